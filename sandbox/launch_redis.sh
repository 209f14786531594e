# Run inside the sandbox, as its pid 1, by sandbox/services.py: start the run's Redis server with
# its only door a unix socket in /work/.services/redis, wait until it answers PING, then become
# the app.
#
#   sh -c "$(cat launch_redis.sh)" launch-redis BINDIR MAXMEMORY POLICY MAXCLIENTS APP ARGV...
#
# Like launch_postgresql.sh there is no stop step: after `exec` the app is the sandbox's pid 1, and
# when it ends the kernel kills the rest of the pid namespace, the server included (it keeps
# nothing, so an unclean stop loses nothing).
set -eu
bindir=$1
maxmemory=$2
policy=$3
maxclients=$4
shift 4
dir=/work/.services/redis
sock=$dir/redis.sock
# The last 20 lines of a file, with builtins only: a failed fork may be why we are here.
last_lines() {
    [ -f "$1" ] || return 0
    echo "==> $1 <=="
    n=0
    while IFS= read -r line || [ -n "$line" ]; do n=$((n + 1)); done <"$1"
    i=0
    while IFS= read -r line || [ -n "$line" ]; do
        i=$((i + 1))
        if [ "$i" -gt $((n - 20)) ]; then printf '%s\n' "$line"; fi
    done <"$1"
}
# Any way out before the exec is a failed start, even the shell's own "Cannot fork" (which ends it
# whatever `set -e` says): the app is not run, the run exits 125 with the server's last words.
trap 'trap - EXIT
echo "redis: the run'"'"'s Redis server did not start; its log says:" >&2
last_lines "$dir/redis.out" >&2
last_lines "$dir/redis.log" >&2
exit 125' EXIT
# Every setting is on the command line and no config file is read, so nothing in /work adds one.
# The binaries are named by full path: the runtime's bin/ (built from the candidate's requirements)
# comes first on PATH. stdin, stdout and stderr are not the run's, so the server holds none of its
# pipes.
"$bindir/redis-server" \
    --port 0 \
    --unixsocket "$sock" --unixsocketperm 700 \
    --dir "$dir" \
    --save '' --appendonly no \
    --maxmemory "$maxmemory" --maxmemory-policy "$policy" \
    --maxclients "$maxclients" \
    --daemonize no --supervised no \
    --logfile "$dir/redis.log" --loglevel warning \
    </dev/null >"$dir/redis.out" 2>&1 &
server=$!
# Bounded (at least 60 s; the run's wall clock usually ends it first). The server is ready once PING
# answers PONG; if it died (a process or memory limit), say so at once. dash reaps a background
# job whenever it waits for a foreground one, so `kill -0` fails once the server has exited.
tries=0
until [ -S "$sock" ] && [ "$("$bindir/redis-cli" -s "$sock" ping 2>/dev/null)" = PONG ]; do
    tries=$((tries + 1))
    if ! kill -0 "$server" 2>/dev/null || [ "$tries" -gt 6000 ]; then
        exit 125
    fi
    sleep 0.01
done
trap - EXIT
exec "$@"
