/* placeholder: the NATS adapter lands with its own commit */
#include "adapters/nats/server.h"