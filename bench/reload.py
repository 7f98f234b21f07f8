#!/usr/bin/python3
"""Reload and binary upgrade of herd servers under load (issue 6, item 5).

    bench/reload.py [--only SCENARIO,...] [--overlap SECS] [--winch]
                    [--preload N] [--rate N] [--log-level LEVEL] [--keep]

Starts the five servers of the Goloman herd on 127.0.0.1:12400-12404
(Goloman, Hands, Holiday, Welsh, Wilkes), each its own nginx (Debian's
/usr/sbin/nginx, or NGINX_BIN) with worker_processes 2, error_log at
notice (--log-level info shows every link event and line) and its own
prefix under build/reload/, and the module copied to
build/reload/modules/ (so that a rebuild during a run does not change what
a binary upgrade loads).  Then, in each scenario, runs three loads with
`loadgen -X` against all five servers while it applies an operation:

  persist-iamat  50 persistent connections (10 per server), IAMAT, paced
                 (--rate, default 2000/s in all), then a convergence
                 check at all five servers (-V): every server must hold
                 the newest answered update of every client
  persist-mixed  10 persistent connections, half IAMAT half WHATSAT for
                 known clients, 500/s in all
  connect        5 slots (one per server), each connect / one IAMAT
                 without newline / half-close / read to EOF / close, as
                 the assignment's graders' client, unpaced

Scenarios (--only; default all, in this order):

  baseline         no operation: the same loads for 7 s, for comparison
  reload-goloman   `nginx -s reload` of Goloman, 5 times, 1 s apart
  upgrade-goloman  binary upgrade of Goloman: USR2, wait for the new
                   master's pid file (the old one is renamed
                   nginx.pid.oldbin) and workers, --overlap seconds
                   (default 0.5) with both generations accepting, QUIT
                   to the old master (--winch: WINCH first, QUIT once the
                   old workers are gone)
  reload-all       reload of every server in turn, 1 s apart
  upgrade-all      binary upgrade of every server in turn, each once the
                   previous one has caught up
  single           one herd server without peers (127.0.0.1:12410):
                   records kept by a reload, lost by a binary upgrade

`--only herd --keep` starts the herd, runs nothing and leaves it running,
for experiments.

Before the scenarios, --preload (default 10000) records that no load
touches are sent to Hands and awaited at every server; after a binary
upgrade, the time until the upgraded server (whose new workers start with
an empty zone) holds all of them again is its catch-up time; after each
scenario every server must still hold all of them.  Each scenario's part
of the error logs is scanned for [emerg], [alert], [crit], [error],
[warn] and "exited on signal".

Prints a summary, saves build/reload/results.json.  Every loop is bounded;
every nginx started here (old and new generations) is stopped at the end,
also on errors and Ctrl-C, by its own pid (--keep leaves the herd
running).  Python 3 standard library only; compiles bench/loadgen.c into
build/reload/bin/ with cc.
"""

import atexit
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time

from benchlib import GRAPH, NAMES, port_free, read_pid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, 'build', 'reload')
NGINX = os.environ.get('NGINX_BIN', '/usr/sbin/nginx')
STREAM_SO = os.environ.get('STREAM_SO',
                           '/usr/lib/nginx/modules/ngx_stream_module.so')
MODULE_SRC = os.environ.get('HERD_MODULE',
                            os.path.join(ROOT, 'build',
                                         'ngx_stream_herd_module.so'))
MODULE = os.path.join(BUILD, 'modules', 'ngx_stream_herd_module.so')
LOADGEN = os.path.join(BUILD, 'bin', 'loadgen')
RESULTS = os.path.join(BUILD, 'results.json')

PORT = {n: 12400 + i for i, n in enumerate(NAMES)}
SINGLE = 'Single'
PORT[SINGLE] = 12410
WORKERS = 2
ZONE = '32m'
LOC = b'+34.068930-118.445127'


def arg(name, default, conv=str):
    if name in sys.argv:
        i = sys.argv.index(name)
        if i + 1 < len(sys.argv):
            return conv(sys.argv[i + 1])
    return default


ONLY = arg('--only', None)
ONLY = set(ONLY.split(',')) if ONLY else None
OVERLAP = arg('--overlap', 0.5, float)
WINCH = '--winch' in sys.argv
PRELOAD = arg('--preload', 10000, int)
RATE = arg('--rate', 2000, int)
KEEP = '--keep' in sys.argv
LEVEL = arg('--log-level', 'notice')

LEAD = 2.0           # seconds of load before the operation
TAIL = 2.0           # and after it

masters = {}         # server -> pid of its current master
ours = set()         # every master pid started here, old and new
T0 = time.time()
R = {'scenarios': [], 'commands': [], 'errors': []}


def log(msg):
    sys.stdout.write('[%6.1fs] %s\n' % (time.time() - T0, msg))
    sys.stdout.flush()


def note(argv):
    R['commands'].append(' '.join(shlex.quote(str(a)) for a in argv))


# ---------------------------------------------------------------- processes

def prefix(name):
    return os.path.join(BUILD, name)


def conf_path(name):
    return os.path.join(prefix(name), 'nginx.conf')


def pid_path(name):
    return os.path.join(prefix(name), 'logs', 'nginx.pid')


def log_path(name):
    return os.path.join(prefix(name), 'logs', 'error.log')


def alive(pid):
    """True for a running process (a zombie is not running)."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except (OSError, IndexError):
        return False


def children(pid):
    try:
        with open('/proc/%d/task/%d/children' % (pid, pid)) as f:
            return [int(x) for x in f.read().split() if alive(int(x))]
    except (OSError, ValueError):
        return []


def is_ours(pid):
    """An nginx master started here: its title names one of our prefixes."""
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            cmd = f.read()
    except OSError:
        return False
    return b'nginx' in cmd and BUILD.encode() + b'/' in cmd


def wait_until(fn, timeout, step=0.01):
    end = time.time() + timeout
    while time.time() < end:
        v = fn()
        if v:
            return v
        time.sleep(step)
    return None


def wait_port(port, timeout=10):
    def ok():
        try:
            with socket.create_connection(('127.0.0.1', port), 0.2):
                return True
        except OSError:
            return False
    if not wait_until(ok, timeout, 0.05):
        raise RuntimeError('nothing listens on 127.0.0.1:%d' % port)


def write_conf(name, peers):
    d = prefix(name)
    os.makedirs(os.path.join(d, 'logs'), exist_ok=True)
    lines = ['load_module %s;' % STREAM_SO,
             'load_module %s;' % MODULE,
             'user root;' if os.geteuid() == 0 else '',
             'pid logs/nginx.pid;',
             'error_log logs/error.log %s;' % LEVEL,
             'worker_processes %d;' % WORKERS,
             'worker_rlimit_nofile 16384;',
             'events { worker_connections 8192; }',
             'stream {',
             '    herd_zone zone=%s:%s;' % (name, ZONE),
             '    server {',
             '        listen 127.0.0.1:%d;' % PORT[name],
             '        herd %s zone=%s;' % (name, name)]
    for p in peers:
        lines.append('        herd_peer %s 127.0.0.1:%d;' % (p, PORT[p]))
    lines += ['    }', '}', '']
    with open(conf_path(name), 'w') as f:
        f.write('\n'.join(lines))


def start(name, peers):
    if not port_free(PORT[name]):
        raise RuntimeError('port %d is taken' % PORT[name])
    write_conf(name, peers)
    for f in (log_path(name), pid_path(name), pid_path(name) + '.oldbin'):
        if os.path.exists(f):
            os.unlink(f)
    argv = [NGINX, '-p', prefix(name) + '/', '-c', conf_path(name)]
    note(argv)
    subprocess.run(argv, check=True)
    pid = wait_until(lambda: read_pid(pid_path(name)), 5)
    if pid is None:
        raise RuntimeError('%s did not start' % name)
    masters[name] = pid
    ours.add(pid)
    wait_port(PORT[name])
    wait_until(lambda: len(children(pid)) >= WORKERS, 5)


def stop_all():
    pids = [p for p in ours if alive(p) and is_ours(p)]
    for p in pids:
        try:
            os.kill(p, signal.SIGQUIT)
        except OSError:
            pass
    for p in pids:
        if not wait_until(lambda: not alive(p), 10, 0.05):
            try:
                os.kill(p, signal.SIGTERM)
            except OSError:
                pass
            wait_until(lambda: not alive(p), 5, 0.05)
    ours.clear()


def on_signal(signum, frame):
    stop_all()
    sys.exit(1)


# ---------------------------------------------------------------- records

def pre_records(n, tag):
    return [(b'pre.%s.%06d' % (tag, i), b'1700000000.%09d' % (i + 1))
            for i in range(n)]


def send_iamats(port, recs):
    with socket.create_connection(('127.0.0.1', port), 5) as s:
        s.settimeout(10)
        f = s.makefile('rb')
        for i in range(0, len(recs), 500):
            batch = recs[i:i + 500]
            s.sendall(b''.join(b'IAMAT %s %s %s\n' % (cid, LOC, t)
                               for cid, t in batch))
            for _ in batch:
                if not f.readline().startswith(b'AT '):
                    raise RuntimeError('preload: IAMAT not answered')


def held(port, recs, first_missing_stops=False):
    """How many of recs the server on port holds with their exact client
    time (WHATSATs, 500 in flight); None if the connection failed."""
    ok = 0
    try:
        with socket.create_connection(('127.0.0.1', port), 5) as s:
            s.settimeout(10)
            f = s.makefile('rb')
            for i in range(0, len(recs), 500):
                batch = recs[i:i + 500]
                s.sendall(b''.join(b'WHATSAT %s 10 1\n' % cid
                                   for cid, _ in batch))
                for cid, t in batch:
                    line = f.readline()
                    if not line:
                        return None
                    if line.startswith(b'AT '):
                        while True:
                            rest = f.readline()
                            if rest in (b'\n', b''):
                                break
                        if line.rstrip(b'\n').endswith(b' ' + t):
                            ok += 1
                            continue
                    if first_missing_stops:
                        return ok
    except OSError:
        return None
    return ok


# ---------------------------------------------------------------- operations

def reload_op(name):
    m = masters[name]
    old = set(children(m))
    argv = [NGINX, '-p', prefix(name) + '/', '-c', conf_path(name), '-s',
            'reload']
    note(argv)
    t0 = time.time()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    t_new = t_gone = None
    end = t0 + 20
    while time.time() < end and (t_new is None or t_gone is None):
        ch = set(children(m))
        if t_new is None and len(ch - old) >= WORKERS:
            t_new = time.time()
        if t_gone is None and not (old & ch):
            t_gone = time.time()
        time.sleep(0.005)
    ev = {'op': 'reload', 'server': name, 'at': t0 - T0,
          'new_workers_ms': ms(t_new, t0), 'old_workers_gone_ms': ms(t_gone, t0)}
    log('  reload %-8s new workers %s ms, old workers gone %s ms'
        % (name, ev['new_workers_ms'], ev['old_workers_gone_ms']))
    return ev


def ms(t, t0):
    return None if t is None else round((t - t0) * 1000, 1)


def upgrade_op(name, pre, catchup_timeout=30):
    """USR2; once the new master and its workers are up and --overlap has
    passed, QUIT to the old master (--winch: WINCH first, and QUIT once
    the old workers are gone).  The new workers start with an empty zone;
    the time from the signal that stops the old workers (QUIT, or WINCH)
    until this server holds all of pre again is its catch-up time."""
    old = masters[name]
    pf = pid_path(name)
    note(['kill', '-USR2', old])
    t0 = time.time()
    os.kill(old, signal.SIGUSR2)

    def new_master():
        p = read_pid(pf)
        if p and p != old and alive(p) and os.path.exists(pf + '.oldbin'):
            return p
        return None

    new = wait_until(new_master, 10)
    if new is None:
        raise RuntimeError('%s: no new master after USR2' % name)
    ours.add(new)
    if not wait_until(lambda: len(children(new)) >= WORKERS, 10):
        raise RuntimeError('%s: the new master has no workers' % name)
    t_ready = time.time()
    time.sleep(OVERLAP)

    old_workers = [p for p in children(old) if p != new]
    off = log_offsets([name])[name]
    sig = signal.SIGWINCH if WINCH else signal.SIGQUIT
    note(['kill', '-WINCH' if WINCH else '-QUIT', old])
    t_stop = time.time()
    os.kill(old, sig)

    # until an old worker has taken the signal it still accepts connections
    # (with the old, full zone): wait for each to log that it is shutting
    # down (then it has closed its listening sockets), or to be gone
    def old_stopped_listening():
        try:
            with open(log_path(name), 'rb') as f:
                f.seek(off)
                text = f.read()
        except OSError:
            text = b''
        return all(not alive(p)
                   or b'%d#%d: gracefully shutting down' % (p, p) in text
                   for p in old_workers)

    wait_until(old_stopped_listening, 5, 0.002)
    t_closed = time.time()

    # catch-up: the new workers started with an empty zone
    t_caught = t_workers_gone = t_gone = pass_ms = None
    first = None
    end = t_stop + catchup_timeout
    while time.time() < end and (t_caught is None or t_workers_gone is None):
        if t_workers_gone is None and not any(alive(p) for p in old_workers):
            t_workers_gone = time.time()
        if not WINCH and t_gone is None and not alive(old):
            t_gone = time.time()
        if t_caught is None:
            t_pass = time.time()
            n = held(PORT[name], pre, first_missing_stops=True)
            if first is None and n is not None:
                first = n
            if n == len(pre):
                t_caught = time.time()
                pass_ms = ms(t_caught, t_pass)
                continue
        time.sleep(0.005)

    t_quit = t_stop
    if WINCH:
        note(['kill', '-QUIT', old])
        t_quit = time.time()
        os.kill(old, signal.SIGQUIT)
    masters[name] = new
    if t_gone is None:
        wait_until(lambda: not alive(old), 15, 0.002)
        t_gone = None if alive(old) else time.time()

    ev = {'op': 'upgrade', 'server': name, 'at': t0 - T0,
          'new_master_ready_ms': ms(t_ready, t0),
          'overlap_s': OVERLAP, 'stop_signal': 'WINCH' if WINCH else 'QUIT',
          'old_workers_stopped_listening_ms': ms(t_closed, t_stop),
          'old_workers_gone_ms': ms(t_workers_gone, t_stop),
          'caught_up_ms': ms(t_caught, t_stop),
          'last_check_pass_ms': pass_ms,
          'old_master_gone_after_quit_ms': ms(t_gone, t_quit),
          'preloaded_held_at_first_check': first,
          'pidfile_oldbin_left': os.path.exists(pf + '.oldbin')}
    log('  upgrade %-8s new master ready %s ms; after %s: old workers '
        'stopped listening %s ms, gone %s ms, all %d preloaded records back '
        '%s ms (the check took %s ms; first check: %s); old master gone %s ms '
        'after QUIT'
        % (name, ev['new_master_ready_ms'], ev['stop_signal'],
           ev['old_workers_stopped_listening_ms'], ev['old_workers_gone_ms'],
           len(pre), ev['caught_up_ms'], pass_ms, first,
           ev['old_master_gone_after_quit_ms']))
    return ev


# ---------------------------------------------------------------- loads

def loadgen_specs(tag, dur):
    ports = ','.join(str(PORT[n]) for n in NAMES)
    return [
        ('persist-iamat',
         ['-m', 'persist', '-X', '-c', 50, '-r', RATE, '-K', 20, '-p', ports,
          '-i', tag + 'p', '-t', dur, '-V', ports, '-T', 30,
          '-l', tag + '-persist-iamat']),
        ('persist-mixed',
         ['-m', 'persist', '-X', '-w', 'mixed', '-f', 0.5, '-c', 10,
          '-r', 500, '-K', 10, '-p', ports, '-i', tag + 'm', '-t', dur,
          '-l', tag + '-persist-mixed']),
        ('connect',
         ['-m', 'connect', '-X', '-N', '-c', 5, '-p', ports, '-i', tag + 'c',
          '-t', dur, '-l', tag + '-connect']),
    ]


def parse_kv(text):
    out = {}
    for tok in text.split():
        if '=' in tok:
            k, v = tok.split('=', 1)
            try:
                out[k] = float(v) if re.match(r'^-?[\d.]+$', v) else v
                if isinstance(out[k], float) and out[k].is_integer() \
                        and '.' not in v:
                    out[k] = int(out[k])
            except ValueError:
                out[k] = v
    return out


def start_loads(tag, dur):
    procs = []
    for name, args in loadgen_specs(tag, dur):
        argv = [LOADGEN] + [str(a) for a in args]
        note(argv)
        procs.append((name, argv, subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
    return procs


def collect_loads(procs, timeout):
    out = {}
    for name, argv, p in procs:
        try:
            so, se = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            so, se = p.communicate()
            R['errors'].append('%s: loadgen timed out' % name)
        res = {'command': ' '.join(shlex.quote(a) for a in argv),
               'rc': p.returncode, 'stderr': se.strip()[-2000:]}
        for line in so.splitlines():
            kv = parse_kv(line)
            if 'verify_servers' in kv:
                res['verify'] = kv
            elif 'mode' in kv:
                res['result'] = kv
        out[name] = res
    return out


# ---------------------------------------------------------------- logs

LEVELS = ['emerg', 'alert', 'crit', 'error', 'warn']


def log_offsets(names):
    off = {}
    for n in names:
        try:
            off[n] = os.path.getsize(log_path(n))
        except OSError:
            off[n] = 0
    return off


def scan_logs(off):
    found = {}
    for n, o in off.items():
        try:
            with open(log_path(n), 'rb') as f:
                f.seek(o)
                text = f.read().decode('utf-8', 'replace')
        except OSError:
            continue
        counts = {lv: 0 for lv in LEVELS}
        counts['exited_on_signal'] = 0
        samples = []
        for line in text.splitlines():
            m = re.search(r'\[(emerg|alert|crit|error|warn)\]', line)
            bad = m is not None
            if m:
                counts[m.group(1)] += 1
            if 'exited on signal' in line:
                counts['exited_on_signal'] += 1
                bad = True
            if bad and len(samples) < 8:
                samples.append(line[:300])
        found[n] = {'counts': counts, 'samples': samples}
    return found


# ---------------------------------------------------------------- scenarios

def check_pre(pre, names):
    out = {}
    for n in names:
        out[n] = held(PORT[n], pre)
    return out


def scenario(name, tag, ops, est):
    if ONLY is not None and name not in ONLY:
        return
    log('== %s' % name)
    with open('/proc/loadavg') as f:
        loadavg_before = f.read().split()[0]
    dur = LEAD + est + TAIL
    off = log_offsets(NAMES)
    t_load = time.time()
    procs = start_loads(tag, dur)
    time.sleep(LEAD)
    t_ops = time.time()
    events = []
    try:
        events = ops()
    except Exception as e:
        R['errors'].append('%s: %s' % (name, e))
        log('!! %s: %s' % (name, e))
    t_ops_end = time.time()
    # setup (WHATSAT clients) takes a moment before -t starts counting
    overran = t_ops_end > t_load + dur - 0.5
    loads = collect_loads(procs, dur + 90)
    pre_end = check_pre(PRE, NAMES)
    logs = scan_logs(off)
    sc = {'name': name, 'loadavg_before': loadavg_before,
          'ops': events, 'ops_secs': round(t_ops_end - t_ops, 2),
          'load_secs': dur, 'ops_overran_load': overran, 'loads': loads,
          'preloaded_held_after': pre_end, 'logs': logs}
    R['scenarios'].append(sc)
    summarize(sc)


def summarize(sc):
    for name, res in sc['loads'].items():
        r = res.get('result', {})
        log('  %-13s rc=%s requests=%s answered=%s failed=%s closes=%s '
            'crossed=%s resent=%s reconnect_err=%s mismatched=%s '
            'conn_err=%s rate=%s p99_us=%s max_us=%s'
            % (name, res['rc'], r.get('requests'), r.get('answered'),
               r.get('failed'), r.get('server_closes'), r.get('crossed'),
               r.get('resent'), r.get('reconnect_err'), r.get('mismatched'),
               r.get('conn_err'), r.get('rate'), r.get('p99_us'),
               r.get('max_us')))
        if res['rc'] != 0 or res['stderr']:
            log('    stderr: %s' % res['stderr'][-500:])
        v = res.get('verify')
        if v:
            log('    convergence at %s servers: %s clients, converged=%s in '
                '%s ms (%s rounds), unconverged=%s'
                % (v.get('verify_servers'), v.get('verify_clients'),
                   v.get('converged'), v.get('converge_ms'),
                   v.get('verify_rounds'), v.get('unconverged')))
    log('  preloaded records held after: %s (of %d)'
        % (' '.join('%s=%s' % kv for kv in sc['preloaded_held_after'].items()),
           len(PRE)))
    for n, lg in sc['logs'].items():
        c = lg['counts']
        if any(c.values()):
            log('  log %-8s %s' % (n, ' '.join('%s=%d' % kv
                                               for kv in c.items() if kv[1])))
            for s in lg['samples']:
                log('      %s' % s)
    if sc['ops_overran_load']:
        log('  !! the operations ran past the end of the load')


def baseline():
    time.sleep(3)
    return []


def reload_goloman():
    ev = []
    for i in range(5):
        if i:
            time.sleep(1)
        ev.append(reload_op('Goloman'))
    return ev


def upgrade_goloman():
    return [upgrade_op('Goloman', PRE)]


def reload_all():
    ev = []
    for i, n in enumerate(NAMES):
        if i:
            time.sleep(1)
        ev.append(reload_op(n))
    return ev


def upgrade_all():
    return [upgrade_op(n, PRE) for n in NAMES]


def single():
    """A herd server without peers: what a reload and an upgrade keep."""
    if ONLY is not None and 'single' not in ONLY:
        return
    log('== single')
    start(SINGLE, [])
    off = log_offsets([SINGLE])
    recs = pre_records(PRELOAD, b'single')
    send_iamats(PORT[SINGLE], recs)
    before = held(PORT[SINGLE], recs)
    ev = [reload_op(SINGLE)]
    after_reload = held(PORT[SINGLE], recs)
    ev.append(upgrade_op(SINGLE, recs[:1], 3))   # no neighbour to catch
                                                 # up from: bounded
    after_upgrade = held(PORT[SINGLE], recs)
    sc = {'name': 'single', 'ops': ev, 'records': len(recs),
          'held_before': before, 'held_after_reload': after_reload,
          'held_after_upgrade': after_upgrade,
          'logs': scan_logs(off)}
    R['scenarios'].append(sc)
    log('  single server, %d records: held before %s, after reload %s, '
        'after binary upgrade %s' % (len(recs), before, after_reload,
                                     after_upgrade))


# ---------------------------------------------------------------- main

def build_loadgen():
    os.makedirs(os.path.dirname(LOADGEN), exist_ok=True)
    argv = ['cc', '-O2', '-Wall', '-o', LOADGEN,
            os.path.join(ROOT, 'bench', 'loadgen.c'), '-lm']
    note(argv)
    subprocess.run(argv, check=True)


def main():
    global PRE
    atexit.register(stop_all)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    os.makedirs(os.path.dirname(MODULE), exist_ok=True)
    shutil.copyfile(MODULE_SRC, MODULE)
    build_loadgen()

    herd = ONLY is None or ONLY - {'single'}
    PRE = pre_records(PRELOAD, b'herd')

    if herd:
        for n in NAMES:
            start(n, GRAPH[n])
        t = time.time()
        send_iamats(PORT['Hands'], PRE)
        ok = wait_until(lambda: all(held(PORT[n], PRE, True) == len(PRE)
                                    for n in NAMES), 30, 0.05)
        if not ok:
            raise RuntimeError('the preloaded records do not reach every '
                               'server')
        R['preload'] = {'records': len(PRE),
                        'at_every_server_ms': ms(time.time(), t)}
        log('herd up on 127.0.0.1:%d-%d; %d preloaded records at every '
            'server in %s ms' % (PORT['Goloman'], PORT['Wilkes'], len(PRE),
                                 R['preload']['at_every_server_ms']))

        scenario('baseline', 'bl', baseline, 3)
        scenario('reload-goloman', 'rg', reload_goloman, 6)
        scenario('upgrade-goloman', 'ug', upgrade_goloman, 3)
        scenario('reload-all', 'ra', reload_all, 6)
        scenario('upgrade-all', 'ua', upgrade_all, 12)

    single()

    R['settings'] = {'overlap_s': OVERLAP, 'winch': WINCH,
                     'preload': PRELOAD, 'rate': RATE,
                     'workers': WORKERS, 'zone': ZONE,
                     'nginx': NGINX, 'module': MODULE_SRC}
    with open(RESULTS, 'w') as f:
        json.dump(R, f, indent=1)
    log('results in %s' % os.path.relpath(RESULTS, ROOT))
    if R['errors']:
        log('errors: %s' % R['errors'])

    if KEEP:
        ours.clear()
        log('--keep: the herd is left running (masters %s)' % masters)


PRE = []

if __name__ == '__main__':
    main()
