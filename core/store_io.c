/*
 * store_io.c - file-system helpers for the stores: atomic replace, directory
 * fsync, mkdir -p, rm -rf. Everything here either completes or reports an
 * error; nothing is retried silently.
 */
#include "core/store_io.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/err.h"

int jn_errno_to_err(int e)
{
	switch (e) {
	case ENOSPC:
	case EDQUOT:
		return -JN_ENOSPC;
	case ENOENT:
		return -JN_ENOTFOUND;
	case EEXIST:
		return -JN_EEXIST;
	case ENOMEM:
		return -JN_ENOMEM;
	default:
		return -JN_EIO;
	}
}

static int write_full(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return jn_errno_to_err(errno);
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The directory part of path ("." when there is none). */
static void dir_of(const char *path, char *dir, size_t cap)
{
	const char *slash = strrchr(path, '/');
	if (!slash) {
		snprintf(dir, cap, ".");
	} else if (slash == path) {
		snprintf(dir, cap, "/");
	} else {
		size_t n = (size_t)(slash - path);
		if (n >= cap)
			n = cap - 1;
		memcpy(dir, path, n);
		dir[n] = '\0';
	}
}

int jn_fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return jn_errno_to_err(errno);
	int rc = 0;
	if (fsync(fd) != 0)
		rc = jn_errno_to_err(errno);
	close(fd);
	return rc;
}

int jn_file_write_atomic(const char *path, const void *data, size_t len)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
		return -JN_EINVAL;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return jn_errno_to_err(errno);
	int rc = write_full(fd, data, len);
	if (rc == 0 && fsync(fd) != 0)
		rc = jn_errno_to_err(errno);
	if (close(fd) != 0 && rc == 0)
		rc = jn_errno_to_err(errno);
	if (rc == 0 && rename(tmp, path) != 0)
		rc = jn_errno_to_err(errno);
	if (rc != 0) {
		unlink(tmp);
		return rc;
	}
	dir_of(path, dir, sizeof dir);
	return jn_fsync_dir(dir);
}

int jn_file_read_all(const char *path, char **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return jn_errno_to_err(errno);
	struct stat sb;
	if (fstat(fd, &sb) != 0) {
		int rc = jn_errno_to_err(errno);
		close(fd);
		return rc;
	}
	size_t cap = (size_t)sb.st_size + 1, n = 0;
	char *buf = jn_malloc(cap);
	if (!buf) {
		close(fd);
		return -JN_ENOMEM;
	}
	for (;;) {
		if (n + 1 >= cap) {   /* the file grew while we read it */
			char *nb = jn_realloc(buf, cap * 2);
			if (!nb) {
				jn_free(buf);
				close(fd);
				return -JN_ENOMEM;
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t r = read(fd, buf + n, cap - 1 - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int rc = jn_errno_to_err(errno);
			jn_free(buf);
			close(fd);
			return rc;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

int jn_mkdirs(const char *path)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);
	if (n == 0 || n >= sizeof buf)
		return -JN_EINVAL;
	memcpy(buf, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		char c = buf[i];
		buf[i] = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			return jn_errno_to_err(errno);
		buf[i] = c;
	}
	struct stat sb;
	if (stat(path, &sb) != 0)
		return jn_errno_to_err(errno);
	return S_ISDIR(sb.st_mode) ? 0 : -JN_EEXIST;
}

int jn_rmtree(const char *path)
{
	struct stat sb;
	if (lstat(path, &sb) != 0)
		return errno == ENOENT ? 0 : jn_errno_to_err(errno);
	if (!S_ISDIR(sb.st_mode))
		return unlink(path) == 0 || errno == ENOENT ? 0 : jn_errno_to_err(errno);
	DIR *d = opendir(path);
	if (!d)
		return jn_errno_to_err(errno);
	int rc = 0;
	struct dirent *de;
	char sub[PATH_MAX];
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (snprintf(sub, sizeof sub, "%s/%s", path, de->d_name) >= (int)sizeof sub) {
			rc = -JN_EINVAL;
			continue;
		}
		int r = jn_rmtree(sub);
		if (r && !rc)
			rc = r;
	}
	closedir(d);
	if (rmdir(path) != 0 && errno != ENOENT && !rc)
		rc = jn_errno_to_err(errno);
	return rc;
}
