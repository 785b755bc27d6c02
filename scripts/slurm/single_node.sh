#!/usr/bin/env bash
# A real single-node SLURM for tests: munge, slurmctld, slurmd and two fake GPUs (GRES), on a
# Debian machine without systemd (REFERENCES §6). Run as root.
#
#   single_node.sh install   apt-get install munge slurmctld slurmd slurm-client (idempotent)
#   single_node.sh start     write /etc/slurm/{slurm,gres}.conf, start the daemons, wait for idle
#   single_node.sh stop      cancel jobs, stop the daemons this script started, wait for exit
#   single_node.sh status    daemons and node state (exit 0 when the node takes jobs)
#
# State (spool, logs, pid files, fake devices) lives in $MEXFLOW_SLURM_STATE
# (/var/lib/mexflow-slurm). The configuration must be /etc/slurm/slurm.conf: the job-step helper
# drops SLURM_CONF. A slurm.conf not written by this script is never overwritten.
# Environment: MEXFLOW_SLURM_START_TIMEOUT (s, default 60) bounds the wait for an idle node;
# MEXFLOW_SLURM_NO_MKNOD=1 makes the fake GPUs links to /dev/null instead of device nodes.
set -euo pipefail

STATE=${MEXFLOW_SLURM_STATE:-/var/lib/mexflow-slurm}
CONF_DIR=/etc/slurm
MARKER="# written by mexflow scripts/slurm/single_node.sh"
START_TIMEOUT=${MEXFLOW_SLURM_START_TIMEOUT:-60}
PACKAGES=(munge slurmctld slurmd slurm-client)
BINARIES=(munged slurmctld slurmd sbatch srun squeue scontrol sinfo)
FAKE_GPUS=2

say() { echo "single_node.sh: $*"; }
die() { echo "single_node.sh: error: $*" >&2; exit 1; }
need_root() { [[ $(id -u) -eq 0 ]] || die "must run as root (it installs packages and starts daemons)"; }
have() { command -v "$1" >/dev/null 2>&1 || [[ -x /usr/sbin/$1 ]]; }
installed() { local b; for b in "${BINARIES[@]}"; do have "$b" || return 1; done; }

# daemon_pid NAME PIDFILE: the pid in PIDFILE if that process is alive and is NAME, else ''
# (a stale pid file may name an unrelated process after a reboot).
daemon_pid() {
    local pid
    pid=$(cat "$2" 2>/dev/null || true)
    if [[ $pid =~ ^[0-9]+$ ]] && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$1" ]]; then
        echo "$pid"
    fi
}

log_tails() {
    local f
    for f in "$STATE"/log/*.log; do
        [[ -f $f ]] || continue
        echo "--- last lines of $f"
        tail -n 15 "$f"
    done
}

cmd_install() {
    need_root
    if installed; then
        say "SLURM and munge already installed ($(slurmd -V 2>/dev/null || echo '?'))"
        return 0
    fi
    have apt-get || die "apt-get not found: install ${PACKAGES[*]} with this system's package manager"
    # Without systemd the packages' maintainer scripts would try to start the daemons with the
    # stock (absent) configuration; a temporary policy-rc.d forbids that, as in containers.
    local policy=/usr/sbin/policy-rc.d added_policy=0 log
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && added_policy=1
    fi
    log=$(mktemp /tmp/mexflow-slurm-apt.XXXXXX)
    export DEBIAN_FRONTEND=noninteractive
    local apt=(apt-get -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
    say "installing ${PACKAGES[*]} (log: $log)"
    if ! "${apt[@]}" install --no-install-recommends "${PACKAGES[@]}" >"$log" 2>&1; then
        say "install failed; running apt-get update and retrying"
        if ! { apt-get -q update && "${apt[@]}" install --no-install-recommends "${PACKAGES[@]}"; } >>"$log" 2>&1; then
            [[ $added_policy -eq 1 ]] && rm -f "$policy"
            tail -n 20 "$log" >&2
            die "apt-get install ${PACKAGES[*]} failed (full log: $log)"
        fi
    fi
    [[ $added_policy -eq 1 ]] && rm -f "$policy"
    installed || die "packages installed but some of ${BINARIES[*]} are missing"
    rm -f "$log"
    say "installed $(slurmd -V)"
}

# slurm.conf's node line from what slurmd detects (a mismatch would drain the node):
# sets NODE_LINE, REAL_MEM and DEF_MEM_PER_CPU.
node_line() {
    local host=$1 detected cpus mem
    detected=$(slurmd -C | head -n 1)
    [[ $detected == NodeName=* ]] || die "slurmd -C gave no node description: $detected"
    cpus=$(sed -n 's/.* CPUs=\([0-9]*\).*/\1/p' <<<"$detected")
    mem=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$detected")
    # 95 % of the memory: slurmd drains a node that reports less than RealMemory.
    REAL_MEM=$((mem * 95 / 100))
    DEF_MEM_PER_CPU=$((REAL_MEM / cpus))
    # NodeName=<slurmd's name> CPUs=.. Boards=.. SocketsPerBoard=.. CoresPerSocket=.. ThreadsPerCore=..
    NODE_LINE="$(sed -e "s/^NodeName=[^ ]*/NodeName=$host NodeAddr=127.0.0.1/" \
        -e 's/ RealMemory=[0-9]*//' <<<"$detected") RealMemory=$REAL_MEM Gres=gpu:$FAKE_GPUS State=UNKNOWN"
}

write_atomic() {  # write_atomic PATH (content on stdin)
    local tmp
    tmp=$(mktemp "$1.XXXXXX")
    cat >"$tmp"
    chmod 644 "$tmp"
    mv -f "$tmp" "$1"
}

check_foreign_config() {
    if [[ -f $CONF_DIR/slurm.conf ]] && ! grep -qF "$MARKER" "$CONF_DIR/slurm.conf"; then
        die "$CONF_DIR/slurm.conf exists and was not written by this script: this machine seems \
to have a real SLURM set-up, which this script will not touch"
    fi
}

start_munge() {
    local pid
    pid=$(daemon_pid munged /run/munge/munged.pid)
    if [[ -n $pid ]]; then
        say "munged already running (pid $pid); using it"
    else
        install -d -o munge -g munge -m 0755 /run/munge
        install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge
        if [[ ! -s /etc/munge/munge.key ]]; then
            install -d -o munge -g munge -m 0700 /etc/munge
            runuser -u munge -- /usr/sbin/mungekey --create --keyfile /etc/munge/munge.key
        fi
        runuser -u munge -- /usr/sbin/munged
        touch "$STATE/munged.ours"
    fi
    local i
    for i in $(seq 1 50); do
        munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    die "munge does not answer (munge -n | unmunge failed); see /var/log/munge/munged.log"
}

node_state() { sinfo -h -N -n "$1" -o %T 2>/dev/null | head -n 1 | tr -d '*~#$@'; }

cmd_start() {
    need_root
    installed || die "SLURM is not installed: run '$0 install' first"
    check_foreign_config
    local host
    host=$(hostname -s)
    local ctld slurmd_pid
    ctld=$(daemon_pid slurmctld "$STATE/slurmctld.pid")
    slurmd_pid=$(daemon_pid slurmd "$STATE/slurmd.pid")
    if [[ -n $ctld && -n $slurmd_pid ]]; then
        say "already running"
        cmd_status
        return
    fi
    [[ -z $ctld && -z $slurmd_pid ]] || cmd_stop  # half running: start afresh
    install -d -m 0755 "$STATE" "$STATE/dev"
    install -d -o slurm -g slurm -m 0755 "$STATE/slurmctld" "$STATE/log"
    install -d -m 0755 "$STATE/slurmd"
    # Fake GPUs: character devices like /dev/null (1,3); SLURM only needs the files to exist.
    # Where mknod is not allowed (unprivileged containers), links to /dev/null do the same.
    local k
    for ((k = 0; k < FAKE_GPUS; k++)); do
        [[ -c $STATE/dev/fakegpu$k ]] && continue
        rm -f "$STATE/dev/fakegpu$k"
        ${MEXFLOW_SLURM_NO_MKNOD:+false} mknod -m 0666 "$STATE/dev/fakegpu$k" c 1 3 2>/dev/null ||
            ln -s /dev/null "$STATE/dev/fakegpu$k"
    done
    node_line "$host"
    install -d -m 0755 "$CONF_DIR"
    write_atomic "$CONF_DIR/slurm.conf" <<EOF
$MARKER (test cluster; safe to delete)
ClusterName=mexflow
SlurmctldHost=$host(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MailProg=/bin/true
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$DEF_MEM_PER_CPU
# squeue (the status command without accounting) and scontrol see finished jobs this long.
MinJobAge=3600
ReturnToService=2
GresTypes=gpu
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
StateSaveLocation=$STATE/slurmctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
$NODE_LINE
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    write_atomic "$CONF_DIR/gres.conf" <<EOF
$MARKER
NodeName=$host Name=gpu File=$STATE/dev/fakegpu[0-$((FAKE_GPUS - 1))]
EOF
    start_munge
    : >"$STATE/log/slurmctld.log"
    : >"$STATE/log/slurmd.log"
    chown slurm:slurm "$STATE/log/slurmctld.log"
    slurmctld -c || start_failed "slurmctld did not start (exit $?)" "$host"  # -c: forget old jobs
    slurmd || start_failed "slurmd did not start (exit $?)" "$host"
    local waited=0 state=""
    while ((waited < START_TIMEOUT * 2)); do
        state=$(node_state "$host")
        case $state in
            idle | mixed | allocated) say "node $host $state ($NODE_LINE)"; return 0 ;;
        esac
        sleep 0.5
        waited=$((waited + 1))
    done
    start_failed "node $host not idle after ${START_TIMEOUT}s (state '${state:-none}')" "$host"
}

start_failed() {  # start_failed MESSAGE HOST: the message, the node's state and the logs; exit 1
    {
        echo "single_node.sh: error: $1"
        scontrol show node "$2" 2>&1 | grep -iE "state|reason" || true
        log_tails
        echo "(stop what did start with: $0 stop)"
    } >&2
    exit 1
}

stop_pidfile() {  # stop_pidfile NAME PIDFILE: TERM, wait up to 20 s, then KILL
    local name=$1 pid i
    pid=$(daemon_pid "$name" "$2")
    if [[ -z $pid ]]; then
        rm -f "$2"
        return 0
    fi
    kill -TERM "$pid"
    for i in $(seq 1 200); do
        kill -0 "$pid" 2>/dev/null || { say "stopped $name (pid $pid)"; rm -f "$2"; return 0; }
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    say "killed $name (pid $pid): it did not exit on TERM within 20 s"
    rm -f "$2"
}

cmd_stop() {
    need_root
    if [[ -n $(daemon_pid slurmctld "$STATE/slurmctld.pid") ]]; then
        local jobs i
        jobs=$(squeue -h -o %i 2>/dev/null | tr '\n' ' ')
        if [[ -n ${jobs// /} ]]; then
            say "cancelling jobs: $jobs"
            # shellcheck disable=SC2086
            scancel $jobs 2>/dev/null || true
            for i in $(seq 1 100); do
                [[ -z $(squeue -h -t PD,R,CG -o %i 2>/dev/null) ]] && break
                sleep 0.1
            done
        fi
    fi
    stop_pidfile slurmd "$STATE/slurmd.pid"
    stop_pidfile slurmctld "$STATE/slurmctld.pid"
    if [[ -e $STATE/munged.ours ]]; then
        stop_pidfile munged /run/munge/munged.pid
        rm -f "$STATE/munged.ours"
    fi
    # Our config goes with the daemons: with it and no slurmctld, every `scontrol` call (the SLURM
    # executor plugin runs one whenever Snakemake starts) waits ~9 s for the controller. `start`
    # writes it again.
    local f
    for f in "$CONF_DIR/slurm.conf" "$CONF_DIR/gres.conf"; do
        if [[ -f $f ]] && grep -qF "$MARKER" "$f"; then rm -f "$f"; fi
    done
}

cmd_status() {
    local name pid rc=0 host
    host=$(hostname -s)
    for name in slurmctld slurmd munged; do
        if [[ $name == munged ]]; then pid=$(daemon_pid munged /run/munge/munged.pid)
        else pid=$(daemon_pid "$name" "$STATE/$name.pid"); fi
        if [[ -n $pid ]]; then say "$name running (pid $pid)"; else say "$name not running"; rc=3; fi
    done
    if [[ $rc -eq 0 ]]; then
        local state
        state=$(node_state "$host")
        say "node $host: ${state:-unknown}"
        case $state in idle | mixed | allocated) ;; *) rc=3 ;; esac
    fi
    return $rc
}

case ${1:-} in
    install) cmd_install ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    *) echo "usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac
