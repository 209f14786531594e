# Run inside the sandbox, as its pid 1, by sandbox/services.py: start the run's PostgreSQL server
# from the cluster the host copied into /work/.services/pg/data, then become the app.
#
#   sh -c "$(cat launch_postgresql.sh)" launch-postgresql BINDIR APP ARGV...
#
# No stop step: `exec` makes the app the sandbox's pid 1, and when pid 1 ends the kernel kills
# everything else in the pid namespace, postgres included (the cluster is a throw-away copy on
# the run's tmpfs, so an unclean stop loses nothing). The app keeps the pid 1 it has without a
# service, so SIGTERM from Server.stop() reaches it as before.
set -eu
bindir=$1
shift
dir=/work/.services/pg
# postgres refuses a data directory others may read.
chmod 0700 "$dir/data"
# -w: return once the server accepts connections (or has failed); the socket is the only way in.
if ! "$bindir/pg_ctl" start -w -t 60 -s -D "$dir/data" -l "$dir/postgresql.log" -o "-k $dir" >"$dir/pg_ctl.out" 2>&1; then
    echo "postgresql: the run's database server did not start; pg_ctl and the server's log say:" >&2
    tail -n 20 "$dir/pg_ctl.out" "$dir/postgresql.log" >&2 || true
    exit 125
fi
exec "$@"
