# Sourced by e2e tests (not a test itself). wait_line FILE TEXT PID: waits up to 10 s until FILE holds
# TEXT (a grep pattern), or until process PID has exited; returns 0 when the text came, 1 otherwise.
# The caller checks what the process wrote, as before.
wait_line() {
  for _ in $(seq 200); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    kill -0 "$3" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}
