#!/usr/bin/env bash
# `make cluster-test`: the smoke DAG through a real one-node SLURM on localhost with profiles/slurm,
# compared with a local run. Debian, as root. What it does (README "Running on a cluster"):
#  1. installs slurmctld, slurmd, slurm-client and munge with apt-get when missing;
#  2. writes /etc/slurm/slurm.conf (refuses if one exists that it did not write): one node with the
#     machine's own CPUs and memory, no accounting, job records in a jobcomp file; starts munged
#     (own key and socket), slurmctld and slurmd (ports 6917/6918);
#  3. builds two copies of the smoke workflow (tools/cluster/smoke_repo.py); runs one locally;
#  4. runs the other with `snakemake --profile profiles/slurm` (no other option), interrupts it
#     with SIGINT once 5 jobs are done and one is pending, checks that Snakemake exits and no job of it is left in
#     the queue, then resumes it with the same command until the DAG is complete;
#  5. checks the SLURM job records (every job COMPLETED through sbatch exactly once) and the
#     results against the local run (tools/cluster/check.py);
#  6. stops every daemon it started and removes the slurm.conf it wrote, also on failure or Ctrl-C.
# Environment: CLUSTER_TEST_WORK (work folder, default a new /tmp/cluster-test.XXXXXX, kept),
# CLUSTER_TEST_RUN_TIMEOUT (seconds per Snakemake run, default 2400).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${BIN:-$ROOT/.venv/bin}
WORK=${CLUSTER_TEST_WORK:-$(mktemp -d /tmp/cluster-test.XXXXXX)}
RUN_TIMEOUT=${CLUSTER_TEST_RUN_TIMEOUT:-2400}
CONF=/etc/slurm/slurm.conf
MARK="# written by tools/cluster/cluster_test.sh"
STATE=$WORK/slurm
T0=$(date +%s)
DAEMONS=()     # "name:pid" of every daemon this script started
SNAKE_PID=""   # a Snakemake run in the background
WROTE_CONF=0

say() { echo "cluster-test: $*"; }
die() { echo "cluster-test: FAILED: $*" >&2; exit 1; }

cleanup() {
    local rc=$?
    set +e
    if [ -n "$SNAKE_PID" ] && kill -0 "$SNAKE_PID" 2>/dev/null; then
        kill -TERM "$SNAKE_PID"; sleep 2; kill -KILL "$SNAKE_PID" 2>/dev/null
    fi
    if [ ${#DAEMONS[@]} -gt 0 ] && command -v squeue >/dev/null; then
        local left; left=$(timeout 10 squeue -h -o %i 2>/dev/null)
        [ -n "$left" ] && timeout 10 scancel $left
    fi
    for ((i = ${#DAEMONS[@]} - 1; i >= 0; i--)); do  # slurmd, slurmctld, then munged
        local name=${DAEMONS[$i]%%:*} pid=${DAEMONS[$i]##*:}
        kill -TERM "$pid" 2>/dev/null || continue
        for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        kill -0 "$pid" 2>/dev/null && { echo "cluster-test: $name ($pid) ignored SIGTERM, killing"; kill -KILL "$pid"; }
        echo "cluster-test: stopped $name ($pid)"
    done
    [ "$WROTE_CONF" = 1 ] && rm -f "$CONF"
    echo "cluster-test: logs and copies in $WORK; total $(( $(date +%s) - T0 )) s; exit $rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...: poll COMMAND every second
    local n=$1 what=$2; shift 2
    for _ in $(seq 1 "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
    die "$what not reached within $n s (logs: $STATE/log)"
}

# ------------------------------------------------------------------ 1. packages
[ "$(id -u)" = 0 ] || die "needs root (apt-get, slurmd, /etc/slurm/slurm.conf)"
[ -f /etc/debian_version ] || die "needs Debian (apt-get packages slurmctld, slurmd, slurm-client, munge)"
"$BIN/python" -c "import snakemake_executor_plugin_slurm" 2>/dev/null \
    || die "$BIN/python lacks the SLURM executor plugin: pip install -c requirements.lock -e '.[cluster]' (make cluster-test does it)"
missing=0
for b in slurmctld slurmd sbatch squeue scancel munged mungekey; do command -v "$b" >/dev/null || missing=1; done
if [ "$missing" = 1 ]; then
    say "installing slurmctld slurmd slurm-client munge (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge
fi
say "slurm $(dpkg-query -W -f='${Version}' slurmctld), munge $(dpkg-query -W -f='${Version}' munge)"

# ------------------------------------------------------------------ 2. one-node cluster
mkdir -p "$STATE"/{key,sock,ctld,spool,log}
chmod 700 "$STATE/key"; chmod 755 "$STATE" "$STATE/sock"
if [ -e "$CONF" ] && ! head -1 "$CONF" | grep -qF "$MARK"; then
    die "$CONF exists and was not written by this script: refusing to replace a real cluster's configuration"
fi
NODE=$(hostname -s)
read -r CPUS MEM < <(slurmd -C | sed -n 's/.* CPUs=\([0-9]*\) .*RealMemory=\([0-9]*\).*/\1 \2/p')
[ -n "${CPUS:-}" ] || die "slurmd -C did not report CPUs and RealMemory"
mkdir -p /etc/slurm
cat > "$CONF" <<EOF
$MARK (removed when it exits)
ClusterName=pipetest
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=6917
SlurmdPort=6918
AuthType=auth/munge
AuthInfo=socket=$STATE/sock/munge.socket
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/ctld/slurmctld.pid
SlurmdPidFile=$STATE/spool/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
ReturnToService=2
MpiDefault=none
MailProg=/bin/true
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$STATE/log/jobcomp.txt
MinJobAge=300
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
WROTE_CONF=1
say "node $NODE: $CPUS CPUs, $MEM MB; state in $STATE"

mungekey --create --force --keyfile="$STATE/key/munge.key"
munged -F --force --socket="$STATE/sock/munge.socket" --key-file="$STATE/key/munge.key" \
    --pid-file="$STATE/key/munged.pid" --seed-file="$STATE/key/munged.seed" \
    --log-file="$STATE/log/munged.log" >"$STATE/log/munged.out" 2>&1 &
DAEMONS+=("munged:$!")
wait_for 15 "munge socket" test -S "$STATE/sock/munge.socket"
slurmctld -D >"$STATE/log/slurmctld.out" 2>&1 &
DAEMONS+=("slurmctld:$!")
wait_for 30 "slurmctld answering" scontrol ping
slurmd -D -N "$NODE" >"$STATE/log/slurmd.out" 2>&1 &
DAEMONS+=("slurmd:$!")
node_idle() { sinfo -h -n "$NODE" -o %t | grep -qx idle; }
wait_for 60 "node $NODE idle" node_idle
say "SLURM up: $(sinfo -h -o '%P %D %c %m %t')"

# ------------------------------------------------------------------ 3. smoke workflow, local run
export PATH="$BIN:$PATH"
"$BIN/python" "$ROOT/tools/cluster/smoke_repo.py" "$WORK/local" >/dev/null
cp -a "$WORK/local" "$WORK/slurm-run"
say "local run (snakemake --cores $CPUS)"
t=$(date +%s)
(cd "$WORK/local" && timeout "$RUN_TIMEOUT" snakemake --cores "$CPUS" >"$WORK/local.log" 2>&1) \
    || die "local run failed (see $WORK/local.log)"
LOCAL_S=$(( $(date +%s) - t ))
NORUN_RULES="all"   # rules without a body, run inside Snakemake itself (never submitted)
EXPECTED=$(grep -E '^(local)?rule [A-Za-z0-9_]+:' "$WORK/local.log" | grep -vcE "^(local)?rule ($NORUN_RULES):")
say "local run: $LOCAL_S s, $EXPECTED jobs"

# ------------------------------------------------------------------ 4. SLURM run, interrupted, resumed
cd "$WORK/slurm-run"
submitted() { grep -c "has been submitted with SLURM jobid" "$1" 2>/dev/null || true; }
say "SLURM run 1 (snakemake --profile profiles/slurm), interrupted with SIGINT once 5 jobs are done and one waits"
t=$(date +%s)
set -m  # job control: a background job started without it ignores SIGINT (no Ctrl-C to test)
timeout "$RUN_TIMEOUT" snakemake --profile profiles/slurm >"$WORK/slurm1.log" 2>&1 &
SNAKE_PID=$!
set +m
done_jobs() { sed -n 's/^\([0-9]*\) of [0-9]* steps.*/\1/p' "$WORK/slurm1.log" | tail -1; }
midway() { [ "$(done_jobs)" -ge 5 ] && squeue -h -t PD -o %i | grep -q .; }
wait_for 900 "5 jobs done and one pending" midway
kill -INT "$(pgrep -P "$SNAKE_PID" | head -1)"  # Snakemake itself, the child of timeout
t_int=$(date +%s)
for _ in $(seq 1 300); do kill -0 "$SNAKE_PID" 2>/dev/null || break; sleep 1; done
kill -0 "$SNAKE_PID" 2>/dev/null && die "Snakemake still running 300 s after SIGINT (see $WORK/slurm1.log)"
SNAKE_PID=""
STOP_S=$(( $(date +%s) - t_int ))
RUN1=$(sed -n 's/.*SLURM run ID: \(\S*\).*/\1/p' "$WORK/slurm1.log" | head -1)
LEFT=$(squeue -h --name "$RUN1" -t PD,R,CG -o %i | tr '\n' ' ')
[ -z "$LEFT" ] || die "jobs $LEFT of the interrupted run are still queued (Snakemake did not cancel them)"
SLURM1_S=$(( $(date +%s) - t ))
say "SLURM run 1: $(submitted "$WORK/slurm1.log") jobs submitted; exited $STOP_S s after SIGINT; no job left in the queue"

say "SLURM run 2 (the same command: resumes, re-runs incomplete jobs)"
t=$(date +%s)
timeout "$RUN_TIMEOUT" snakemake --profile profiles/slurm >"$WORK/slurm2.log" 2>&1 \
    || die "SLURM run 2 failed (see $WORK/slurm2.log, $STATE/log)"
SLURM2_S=$(( $(date +%s) - t ))
snakemake --profile profiles/slurm -n 2>&1 | grep -q "Nothing to be done" \
    || die "after SLURM run 2 the DAG is not complete"
say "SLURM run 2: $SLURM2_S s, $(submitted "$WORK/slurm2.log") jobs submitted"

# ------------------------------------------------------------------ 5. checks
sleep 2  # jobcomp records are written when slurmctld purges the job's step
"$BIN/python" "$ROOT/tools/cluster/check.py" jobs "$STATE/log/jobcomp.txt" "$WORK/slurm1.log" "$WORK/slurm2.log" \
    --expected "$EXPECTED" >"$WORK/jobs.json" || { cat "$WORK/jobs.json"; die "SLURM job records"; }
"$BIN/python" "$ROOT/tools/cluster/check.py" results "$WORK/local/results" "$WORK/slurm-run/results" \
    >"$WORK/results.json" || { cat "$WORK/results.json"; die "results differ from the local run"; }
SBATCH=$("$BIN/python" -c "import json,sys; print(json.load(open(sys.argv[1]))['sbatch_total'])" "$WORK/jobs.json")
say "PASSED: $EXPECTED jobs of the smoke DAG completed through sbatch ($SBATCH sbatch submissions in all," \
    "$((SBATCH - EXPECTED)) cancelled by the interruption); results match the local run ($WORK/results.json)"
say "times: local $LOCAL_S s, SLURM run 1 $SLURM1_S s (stop after SIGINT $STOP_S s), SLURM run 2 $SLURM2_S s," \
    "script $(( $(date +%s) - T0 )) s"
