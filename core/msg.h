/*
 * msg.h - a message as it travels through the router.
 *
 * Every pointer is borrowed: it is valid only for the duration of the
 * jn_router_publish() call (it usually points into a connection's read
 * buffer). A deliver callback that needs the bytes later must copy them.
 */
#ifndef JN_MSG_H
#define JN_MSG_H

#include <stdint.h>
#include <stddef.h>

struct jn_msg {
	const char *subject;
	uint32_t subject_len;
	const char *reply;       /* NULL / 0 when there is no reply subject */
	uint32_t reply_len;
	const uint8_t *hdr;      /* whole "NATS/1.0...\r\n\r\n" block, or NULL */
	uint32_t hdr_len;        /* 0 when no headers */
	const uint8_t *data;
	uint32_t data_len;
};

#endif
