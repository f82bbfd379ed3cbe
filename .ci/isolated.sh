#!/usr/bin/env bash
# Run a command (the test suite) inside a fresh network namespace that has only loopback, so
# no test can reach anything off this machine: a leak fails loudly (network unreachable)
# instead of reaching a real resolver. Tests still create their own namespaces inside it.
#   root (CI, lab machines): unshare --net; otherwise an unprivileged user namespace if the
#   kernel allows it; otherwise run as is, with a warning (CI=true: an error).
# ENUMLAB_NO_ISOLATION=1 runs the command as is.
set -u
if [ "${ENUMLAB_NO_ISOLATION:-}" = 1 ]; then
  exec "$@"
fi
inner='ip link set lo up || exit 1; export ENUMLAB_ISOLATED=1; exec "$@"'
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null 2>&1 && unshare --net true 2>/dev/null
then
  echo "enumlab: running the tests in a network namespace with loopback only"
  exec unshare --net -- bash -c "$inner" enumlab-isolated "$@"
fi
if command -v unshare >/dev/null 2>&1 && unshare --user --map-root-user --net true 2>/dev/null
then
  echo "enumlab: running the tests in a user+network namespace with loopback only"
  exec unshare --user --map-root-user --net -- bash -c "$inner" enumlab-isolated "$@"
fi
if [ "${CI:-}" = "true" ]; then
  echo "enumlab: cannot isolate the tests in a network namespace (unshare failed)" >&2
  exit 1
fi
echo "enumlab: WARNING: tests not isolated from the network (unshare unavailable)" >&2
exec "$@"
