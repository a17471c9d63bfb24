// --publish asks for host ports: whether they are free is known before the app
// starts, as `docker run -p` reports a taken port at once instead of leaving the
// app to fail its bind (EADDRINUSE) after boot.
#pragma once

#include "core/error.h"
#include "devices/network_policy.h"

namespace hyperlet {

// Binds each rule's host address and port once (TCP with SO_REUSEADDR, as a
// server would, so a connection in TIME_WAIT does not count) and lets go: an
// address another process holds is an error that names the rule.
Result<void> check_published_ports_free(const NetworkPolicy& policy);

}  // namespace hyperlet
