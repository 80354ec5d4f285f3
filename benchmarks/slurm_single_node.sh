#!/usr/bin/env bash
# Prove that the workflow runs on a real SLURM cluster: a one-node cluster on this machine.
#
# Usage (as root, from anywhere; uses the active virtual environment, else <repo>/.venv):
#
#   nice -n 5 benchmarks/slurm_single_node.sh [--keep]
#
#   --keep   keep the temporary folder (results of both runs, SLURM logs, daemon logs)
#
# What it does:
#   1. installs Debian's slurm-wlm and munge (apt-get) and snakemake-executor-plugin-slurm (pip)
#      where they are missing;
#   2. starts munged, slurmctld and slurmd on the loopback interface, each with its own files
#      in a temporary folder (the only files outside it: links /etc/slurm/slurm.conf and
#      gres.conf, made only where no SLURM configuration exists, removed on exit), and waits
#      until sinfo shows the node idle;
#   3. runs a small study (config/tiny.yaml, made smaller with --config) through
#      `snakemake --profile workflow/profiles/slurm` (executor slurm, status via squeue, no
#      account: the test cluster has no accounting database, so sacct has nothing to say);
#   4. runs the same study locally (`snakemake --cores 2`) and compares the two results folders
#      (benchmarks/slurm/compare_results.py): every parquet table exactly, wall-clock columns
#      aside, and every trained model file byte for byte;
#   5. stops the daemons it started (trap on EXIT) and removes the temporary folder;
#   6. prints a summary: SLURM job ids and states, the PASS/FAIL of the comparison, wall times.
#
# The node advertises one stand-in GPU (a GRES whose device file is /dev/null), so the rules'
# `resources: gpu=1` reaches sbatch unchanged as `--gpus=1`, exactly as on a GPU cluster;
# the jobs still compute on the CPU (device: auto finds no CUDA).
#
# Environment knobs (all optional):
#   SLURM_BENCH_DIR       temporary folder to use (default: a new mktemp -d under /tmp)
#   SLURMCTLD_PORT        slurmctld port (default 6817); SLURMD_PORT (default 6818)
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KEEP=0
for arg in "$@"; do
  case "$arg" in
    --keep) KEEP=1 ;;
    -h|--help) awk 'NR > 1 && /^set -euo/ {exit} NR > 1' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "unknown argument: $arg (see --help)" >&2; exit 2 ;;
  esac
done

# The study: config/tiny.yaml with fewer examples, every stage kept (34 jobs). Locally a few
# minutes on 2 cores; through SLURM longer, since every job starts its own Snakemake and Python.
CONFIGFILE="$REPO/config/tiny.yaml"
SMALLER=(
  "datasets={synthetic: {train_n: 600, eval_n: 40, explain_n: 8}}"
  "heads={selection_n: 8}"
  "interventions={examples: 4, transformer_examples: 2}"
)

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*"; }
die() { log "ERROR: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root: the script installs packages and starts slurmd (which runs jobs as their owner)"
if [ -z "${VIRTUAL_ENV:-}" ]; then
  [ -f "$REPO/.venv/bin/activate" ] || die "no active virtual environment and no $REPO/.venv"
  # shellcheck disable=SC1091
  . "$REPO/.venv/bin/activate"
fi
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false MPLBACKEND=Agg PIP_DISABLE_PIP_VERSION_CHECK=1

# ---------------------------------------------------------------------------------------------
# 1. Packages
# ---------------------------------------------------------------------------------------------
install_packages() {
  local missing=0 tool
  for tool in munged mungekey slurmctld slurmd sbatch squeue sinfo scontrol; do
    command -v "$tool" >/dev/null || missing=1
  done
  if [ "$missing" = 1 ]; then
    log "installing slurm-wlm and munge with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
  fi
  if ! python -c "import snakemake_executor_plugin_slurm" 2>/dev/null; then
    # Plugin 2.x is the series for snakemake >= 8 (executor-plugin interface 9); pinning the
    # installed snakemake keeps pip from changing it.
    local smk
    smk=$(python -c "import snakemake; print(snakemake.__version__)")
    log "installing snakemake-executor-plugin-slurm (for snakemake $smk)"
    pip install -q "snakemake-executor-plugin-slurm>=2,<3" "snakemake==$smk"
  fi
}

# ---------------------------------------------------------------------------------------------
# 2. A one-node cluster on the loopback interface
# ---------------------------------------------------------------------------------------------
WORK=${SLURM_BENCH_DIR:-$(mktemp -d /tmp/slurm-bench.XXXXXX)}
mkdir -p "$WORK"
chmod 755 "$WORK"   # munged runs as the user munge and must reach its own subfolder
PIDS=()             # daemons started by this script, stopped by cleanup()
MUNGE_SOCKET="$WORK/munge/munge.socket"
CONF="$WORK/etc/slurm.conf"
# SLURM commands find their configuration at the default path, as on any cluster: the job step
# executor (snakemake-executor-plugin-slurm-jobstep) removes SLURM_* variables, SLURM_CONF
# included, before its srun, so a configuration known only through SLURM_CONF is lost there.
# /etc/slurm/{slurm,gres}.conf are therefore symbolic links into $WORK, removed on exit.
ETC_SLURM=/etc/slurm
LINKS=()            # links made by this script, removed by cleanup()
unset SLURM_CONF

cleanup() {
  local rc=$?
  set +e
  if [ "${#LINKS[@]}" -gt 0 ] && scontrol ping >/dev/null 2>&1; then
    local active
    active=$(squeue -h -t PD,R,CG -o %i 2>/dev/null)
    # shellcheck disable=SC2086  # one argument per job id
    [ -z "$active" ] || scancel $active 2>/dev/null
  fi
  # Stop in reverse order of starting: slurmd, slurmctld, munged.
  local i
  for (( i=${#PIDS[@]}-1; i>=0; i-- )); do
    kill "${PIDS[i]}" 2>/dev/null && wait "${PIDS[i]}" 2>/dev/null
  done
  for i in "${LINKS[@]}"; do rm -f "$i"; done
  if [ "$KEEP" = 1 ] || [ "$rc" != 0 ]; then
    log "kept $WORK (daemon logs in $WORK/log, SLURM job logs in $WORK/slurm-logs)"
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_munge() {
  # Our own munged with its own key and socket: the system's munge (if any) is left alone.
  mkdir -p "$WORK/munge"
  chown munge:munge "$WORK/munge"
  chmod 755 "$WORK/munge"   # munged insists that everyone can reach its socket
  runuser -u munge -- mungekey --create --keyfile="$WORK/munge/munge.key"
  runuser -u munge -- munged --foreground --socket="$MUNGE_SOCKET" --key-file="$WORK/munge/munge.key" \
    --pid-file="$WORK/munge/munged.pid" --seed-file="$WORK/munge/munged.seed" \
    --log-file="$WORK/munge/munged.log" > "$WORK/munge/munged.out" 2>&1 &
  PIDS+=($!)
  local _
  for _ in $(seq 50); do
    munge --socket="$MUNGE_SOCKET" -n 2>/dev/null | unmunge --socket="$MUNGE_SOCKET" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  die "munged did not answer on $MUNGE_SOCKET (log: $WORK/munge/munged.log)"
}

write_slurm_conf() {
  NODE=$(hostname -s)
  # The node's real size, as slurmd sees it.
  local hw cpus mem
  hw=$(slurmd -C | head -1)
  cpus=$(sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' <<< "$hw")
  mem=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<< "$hw")
  # The rules use 2 threads and the profile asks up to 16000 MB for train/explain; on a smaller
  # machine advertise that much anyway (config_overrides: slurm.conf wins over the hardware;
  # nothing is enforced here: task/none, proctrack/linuxproc).
  NODE_CPUS=$(( cpus < 2 ? 2 : cpus ))
  NODE_MEM=$(( mem < 16384 ? 16384 : mem ))
  mkdir -p "$WORK/etc" "$WORK/state" "$WORK/spool" "$WORK/log" "$WORK/slurm-logs"
  cat > "$CONF" <<EOF
# One-node test cluster written by benchmarks/slurm_single_node.sh ($(date -Is)).
ClusterName=$CLUSTER
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$SLURMCTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/state/slurmctld.pid
SlurmdPidFile=$WORK/spool/slurmd.pid
SlurmctldLogFile=$WORK/log/slurmctld.log
SlurmdLogFile=$WORK/log/slurmd.log
# Processes tracked without cgroups; no task binding (works in containers and small VMs).
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SlurmdParameters=config_overrides
ReturnToService=2
# Keep finished jobs in slurmctld for a day: squeue then reports them, which is how the
# executor learns the outcome without an accounting database (--slurm-status-command squeue).
MinJobAge=86400
# No accounting database; a plain-text completion record of every job instead.
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$WORK/log/jobcomp.txt
# One stand-in GPU (gres.conf: File=/dev/null) so that --gpus=1 requests are scheduled, one at a time.
GresTypes=gpu
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$NODE_CPUS RealMemory=$NODE_MEM Gres=gpu:1 State=UNKNOWN
PartitionName=main Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
  # gres/gpu drops a GPU without a device file; /dev/null stands in (task/none: nothing is bound).
  echo "NodeName=$NODE Name=gpu File=/dev/null" > "$WORK/etc/gres.conf"
  # Link them where SLURM looks; an existing configuration there (a real SLURM node) is left alone.
  local name target
  mkdir -p "$ETC_SLURM"
  for name in slurm.conf gres.conf; do
    target="$ETC_SLURM/$name"
    if [ -e "$target" ] || [ -L "$target" ]; then
      # a dangling link (left by an earlier, killed run of this script) may be replaced
      [[ -L "$target" && ! -e "$target" ]] \
        || die "$target exists: this machine already has a SLURM configuration; not touching it"
      rm -f "$target"
    fi
    ln -s "$WORK/etc/$name" "$target"
    LINKS+=("$target")
  done
}

start_slurm() {
  port_free "$SLURMCTLD_PORT" || die "port $SLURMCTLD_PORT is in use (set SLURMCTLD_PORT)"
  port_free "$SLURMD_PORT" || die "port $SLURMD_PORT is in use (set SLURMD_PORT)"
  # -D: stay in the foreground (we hold the pid); -c: start from an empty state.
  slurmctld -D -c > "$WORK/log/slurmctld.out" 2>&1 &
  PIDS+=($!)
  local _ state=""
  for _ in $(seq 60); do scontrol ping >/dev/null 2>&1 && break; sleep 0.5; done
  scontrol ping >/dev/null 2>&1 || die "slurmctld did not start (log: $WORK/log/slurmctld.log)"
  slurmd -D -N "$NODE" > "$WORK/log/slurmd.out" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 120); do
    state=$(sinfo -h -n "$NODE" -o %T 2>/dev/null || true)
    [ "$state" = idle ] && return 0
    sleep 0.5
  done
  die "node $NODE is '$state', not idle, after 60 s (logs: $WORK/log/slurmd.log, slurmctld.log)"
}

# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------
SLURMCTLD_PORT=${SLURMCTLD_PORT:-6817}
SLURMD_PORT=${SLURMD_PORT:-6818}
CLUSTER=snakemake-bench
T0=$SECONDS

install_packages
log "workdir $WORK"
start_munge
write_slurm_conf
start_slurm
T_UP=$((SECONDS - T0))
log "cluster up in ${T_UP}s: $(sinfo -h -o '%P %D %T %c CPUs %m MB %G')"

cd "$REPO"
COMMON=(--configfile "$CONFIGFILE" --config "${SMALLER[@]}")

# 3. Through SLURM: the repository's profile, plus what only this test cluster needs:
#    no account (no accounting database; plugin 2.8.0 accepts the flag but still tries to
#    guess one with sacct, fails harmlessly and submits without -A), status from squeue
#    (sacct has no data here), a short first status check (the jobs are short), and kept job
#    logs for the evidence.
log "study through SLURM -> $WORK/slurm"
T1=$SECONDS
snakemake --profile workflow/profiles/slurm "${COMMON[@]}" "results_dir=$WORK/slurm" \
  --slurm-no-account \
  --slurm-status-command squeue \
  --slurm-init-seconds-before-status-checks 5 \
  --slurm-logdir "$WORK/slurm-logs" --slurm-keep-successful-logs \
  > "$WORK/snakemake-slurm.log" 2>&1 \
  || { tail -40 "$WORK/snakemake-slurm.log"; die "the SLURM run failed (log: $WORK/snakemake-slurm.log)"; }
T_SLURM=$((SECONDS - T1))

# 4. The same study locally, then the comparison.
log "same study locally (--cores 2) -> $WORK/local"
T2=$SECONDS
snakemake --cores 2 "${COMMON[@]}" "results_dir=$WORK/local" > "$WORK/snakemake-local.log" 2>&1 \
  || { tail -40 "$WORK/snakemake-local.log"; die "the local run failed (log: $WORK/snakemake-local.log)"; }
T_LOCAL=$((SECONDS - T2))

log "comparing the two results folders"
COMPARE_RC=0
python "$REPO/benchmarks/slurm/compare_results.py" "$WORK/slurm" "$WORK/local" > "$WORK/compare.txt" || COMPARE_RC=$?

# 6. Summary
STEPS=$(grep -o "[0-9]* of [0-9]* steps (100%) done" "$WORK/snakemake-slurm.log" | tail -1)
N_SLURM=$(squeue -h -t all -o %i | wc -l)
STATES=$(squeue -h -t all -o %T | sort | uniq -c | awk '{printf "%s%s %s", sep, $1, $2; sep=", "}')
echo
echo "==================================== SLURM single-node summary ===================================="
echo "cluster: $CLUSTER, node $NODE ($NODE_CPUS CPUs, $NODE_MEM MB, 1 stand-in GPU), partition main; $(sbatch --version)"
echo "snakemake $(snakemake --version), snakemake-executor-plugin-slurm" \
  "$(pip show snakemake-executor-plugin-slurm 2>/dev/null | sed -n 's/^Version: //p'), status via squeue"
echo "Snakemake (SLURM run): $STEPS; rule all is the only job not submitted"
echo "jobs submitted through sbatch: $N_SLURM ($STATES); a FAILED job is retried by Snakemake (profile: retries: 1)"
echo "squeue -t all (finished jobs stay listed: MinJobAge=86400):"
squeue -t all -O "JobID:6,State:11,TimeUsed:8,NumCPUs:5,MinMemory:11,tres-per-job:13,Comment:70" | sed 's/^/  /'
for job in $(squeue -h -t FAILED,CANCELLED,TIMEOUT,OUT_OF_MEMORY,NODE_FAIL -o %i); do
  echo "  job $job: $(grep -h -m1 -E 'died with|exit code|Error in rule' "$WORK"/slurm-logs/*/*/"$job".log "$WORK"/slurm-logs/*/"$job".log 2>/dev/null | head -1)"
done
echo "job completion records ($WORK/log/jobcomp.txt): $(wc -l < "$WORK/log/jobcomp.txt") jobs," \
  "$(grep -o 'JobState=[A-Z]*' "$WORK/log/jobcomp.txt" | sort | uniq -c | awk '{printf "%s%s %s", sep, $1, $2; sep=", "}')"
echo "sacct: $(sacct -n -X 2>&1 | head -1)"
echo "comparison with the local run (benchmarks/slurm/compare_results.py):"
grep -v '^equal ' "$WORK/compare.txt" | sed 's/^/  /'
echo "wall times: cluster start ${T_UP}s, SLURM run ${T_SLURM}s, local run ${T_LOCAL}s, total $((SECONDS - T0))s"
echo "==================================================================================================="
[ "$COMPARE_RC" = 0 ] || die "the SLURM and local results differ ($WORK/compare.txt)"
