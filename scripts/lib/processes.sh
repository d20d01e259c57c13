# Shared by scripts/serve and scripts/cluster: start services in the foreground, and stop them
# all, in order, on Ctrl-C, SIGTERM, or when any one of them exits. Sourced, not run.
#
# Services start in their own session (setsid), so a terminal's Ctrl-C reaches only the script,
# which then stops Herald's processes first (while NATS is still up) and the nats-servers last.
# Whatever has not exited STOP_TIMEOUT seconds after SIGTERM is SIGKILLed: nothing is left behind.

STOP_TIMEOUT=${STOP_TIMEOUT:-10}
READY_TIMEOUT=${READY_TIMEOUT:-10}

pids=()
names=()
# How many of the first services are infrastructure (nats-servers), stopped last.
infrastructure=0

log() { echo "$(basename "$0"): $*" >&2; }

# True while the process has not exited (bash reaps finished children by itself).
alive() { kill -0 "$1" 2>/dev/null; }

# Sends SIGTERM to the given children (indexes into pids), waits up to STOP_TIMEOUT seconds,
# then SIGKILLs whatever is still running.
stop() {
  local i deadline=$((SECONDS + STOP_TIMEOUT))
  for i in "$@"; do
    if alive "${pids[$i]}"; then
      log "stopping ${names[$i]} (pid ${pids[$i]})"
      kill -TERM "${pids[$i]}" 2>/dev/null || true
    fi
  done
  for i in "$@"; do
    while alive "${pids[$i]}" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
    if alive "${pids[$i]}"; then
      log "${names[$i]} still running after ${STOP_TIMEOUT}s: SIGKILL"
      kill -KILL "${pids[$i]}" 2>/dev/null || true
    fi
  done
}

# Stops Herald's processes first, so they finish their work while NATS is still up, then the
# nats-servers. Runs once; a second Ctrl-C meanwhile kills everything at once.
stop_all() {
  trap - EXIT
  trap 'kill -KILL "${pids[@]}" 2>/dev/null || true' INT TERM
  local all=("${!pids[@]}")
  [ "${#all[@]}" -gt "$infrastructure" ] && stop "${all[@]:$infrastructure}"
  [ "$infrastructure" -gt 0 ] && stop "${all[@]:0:$infrastructure}"
  wait 2>/dev/null || true
}
# Ctrl-C is how a developer ends the script: a clean stop, not a failure of the task.
trap 'stop_all; exit 0' INT
trap 'stop_all; exit 0' TERM
trap 'stop_all' EXIT

# start NAME COMMAND [ARGS...]: runs a service in its own session.
start() {
  local name=$1
  shift
  setsid "$@" &
  pids+=("$!")
  names+=("$name")
  log "started $name (pid $!)"
}

port_accepts() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Fails unless the port is free.
require_free_port() {
  if port_accepts "$1"; then
    log "port $1 is already in use ($2): stop it or set $3"
    exit 1
  fi
}

# Waits until service INDEX accepts connections on PORT.
wait_for_port() {
  local index=$1 port=$2 deadline=$((SECONDS + READY_TIMEOUT))
  until port_accepts "$port"; do
    if ! alive "${pids[$index]}"; then
      log "${names[$index]} exited during start-up"
      exit 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "${names[$index]} did not accept connections on port $port within ${READY_TIMEOUT}s"
      exit 1
    fi
    sleep 0.05
  done
}

# The nats-server to run: NATS_SERVER_BIN, else .tools/bin/nats-server, else the one on PATH.
find_nats_server() {
  if [ -z "${NATS_SERVER_BIN:-}" ]; then
    NATS_SERVER_BIN=nats-server
    [ -x .tools/bin/nats-server ] && NATS_SERVER_BIN=.tools/bin/nats-server
  fi
  if ! command -v "$NATS_SERVER_BIN" >/dev/null 2>&1; then
    log "$NATS_SERVER_BIN not found: run ./task tools"
    exit 1
  fi
}

# Fails unless each binary exists.
require_binaries() {
  local bin
  for bin in "$@"; do
    if ! command -v "$bin" >/dev/null 2>&1; then
      log "$bin not found: build it first (./task build)"
      exit 1
    fi
  done
}

# Returns when any service exits (or a trapped signal arrives, whose trap then runs); a service
# that stops on its own is a failure, even with status 0.
wait_for_any() {
  local status
  set +e
  wait -n "${pids[@]}"
  status=$?
  set -e
  log "a process exited (status $status): stopping the others"
  exit $((status == 0 ? 1 : status))
}
