#!/usr/bin/python3
"""herd benchmark suite: runs every scenario of issue 5 side by side with
the asyncio baseline and the ceilings, and writes docs/performance.md
(tables, exact commands, plots).  Started by `make bench` through bench/run,
which installs the tools and compiles bench/loadgen.c and
bench/ceiling/ceiling.c first.

    bench/run.py [--quick] [--only SECTION,...]

Everything runs on 127.0.0.1, under build/bench/, on ports 12200-12299.
Every process started here is stopped before the script ends (also on
errors and on Ctrl-C), by its own pid.  Every loop is bounded in count and
time.  Environment: NGINX_BIN, STREAM_SO, HERD_MODULE (another build of
the module, for experiments), BENCH_DOC and BENCH_RESULTS (where the page
and the raw results go), BENCH_REPS (default 2),
BENCH_QUIET_WAIT (seconds to wait for a quiet machine, default 90).
"""

import atexit
import json
import os
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

from benchlib import GRAPH, NAMES, port_free, read_pid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, 'build', 'bench')
BIN = os.path.join(BUILD, 'bin')
LOADGEN = os.path.join(BIN, 'loadgen')
CEILING = os.path.join(BIN, 'ceiling')
NGINX = os.environ.get('NGINX_BIN', '/usr/sbin/nginx')
STREAM_SO = os.environ.get('STREAM_SO',
                           '/usr/lib/nginx/modules/ngx_stream_module.so')
MODULE = os.environ.get('HERD_MODULE',
                        os.path.join(ROOT, 'build', 'ngx_stream_herd_module.so'))
PY = '/usr/bin/python3'
BASELINE = os.path.join(ROOT, 'bench', 'baseline', 'herd.py')
SLOW_PLACES = os.path.join(ROOT, 'bench', 'slow_places.py')
CATCHUP = os.path.join(ROOT, 'bench', 'catchup.pl')
STANDIN_CONF = os.path.join(ROOT, 'conf', 'places-standin.conf')
DOC = os.environ.get('BENCH_DOC', os.path.join(ROOT, 'docs', 'performance.md'))
PLOT = os.path.join(os.path.dirname(DOC), 'performance-latency.png')
RESULTS = os.environ.get('BENCH_RESULTS', os.path.join(BUILD, 'results.json'))

QUICK = '--quick' in sys.argv
ONLY = None
for i, a in enumerate(sys.argv):
    if a == '--only' and i + 1 < len(sys.argv):
        ONLY = set(sys.argv[i + 1].split(','))

REPS = int(os.environ.get('BENCH_REPS', '1' if QUICK else '2'))
DUR = 1.0 if QUICK else 2.0          # measured seconds per throughput run
WARM = 0.3 if QUICK else 0.5

HERD_PORT = {n: 12200 + i for i, n in enumerate(NAMES)}
PY_PORT = {n: 12210 + i for i, n in enumerate(NAMES)}
SINGLE_PORT = 12205
CEIL_PORT = 12220
RETURN_PORT = 12221
STANDIN_PORT = 12230
SLOW_PORT = 12231
MEM_PORT = 12240
PYMEM_PORT = 12241
CG_PORT = 12250          # 12250-12253: the callgrind server and its peers
CATCHUP_PORTS = '12260,12261'

REPLY88 = ('AT Ceiling +0.000000000 lgen0000000000000000 '
           '+34.068930-118.445127 1764000000.000000000\\n')

LG_CPU = '0'             # the load generator's core in the pinned layout
SUT_CPU = '1'            # the servers' core in the pinned layout
ALL_CPUS = '0,1'

R = {'runs': [], 'notes': [], 'errors': []}     # everything measured
COMMANDS = []            # (section, command line) as run
started_nginx = {}       # name -> pid file
started_procs = {}       # name -> Popen
T0 = time.time()


# ---------------------------------------------------------------- helpers

def log(msg):
    sys.stdout.write('[%6.1fs] %s\n' % (time.time() - T0, msg))
    sys.stdout.flush()


def note_cmd(section, argv):
    COMMANDS.append((section, ' '.join(shlex.quote(a) for a in argv)))


def wait_port(port, timeout=10.0):
    end = time.time() + timeout
    while time.time() < end:
        try:
            with socket.create_connection(('127.0.0.1', port), 0.2):
                return True
        except OSError:
            time.sleep(0.05)
    raise RuntimeError('nothing listens on 127.0.0.1:%d' % port)


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def children(pid):
    out = []
    try:
        with open('/proc/%d/task/%d/children' % (pid, pid)) as f:
            out = [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def cpu_ticks(pids):
    total = 0
    for p in pids:
        try:
            with open('/proc/%d/stat' % p) as f:
                fields = f.read().rsplit(')', 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total


def user_line():
    return 'user root;' if os.geteuid() == 0 else ''


def nginx_conf(name, body, workers, extra_main=''):
    d = os.path.join(BUILD, 'srv', name)
    return """load_module %s;
load_module %s;
%s
pid %s/nginx.pid;
error_log %s/error.log warn;
worker_processes %d;
worker_rlimit_nofile 16384;
%s
events { worker_connections 8192; }
%s
""" % (STREAM_SO, MODULE, user_line(), d, d, workers, extra_main, body)


def start_nginx(name, conf, cpus, port):
    d = os.path.join(BUILD, 'srv', name)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, 'nginx.conf')
    with open(path, 'w') as f:
        f.write(conf)
    if os.path.exists(os.path.join(d, 'error.log')):
        os.unlink(os.path.join(d, 'error.log'))
    if not port_free(port):
        raise RuntimeError('port %d is taken' % port)
    argv = ['taskset', '-c', cpus, NGINX, '-p', d + '/', '-c', path]
    note_cmd('servers', argv)
    subprocess.run(argv, check=True)
    started_nginx[name] = os.path.join(d, 'nginx.pid')
    wait_port(port)


def stop_nginx(name):
    pidf = started_nginx.pop(name, None)
    if pidf is None:
        return
    pid = read_pid(pidf)
    if pid is None or not alive(pid):
        return
    os.kill(pid, signal.SIGQUIT)
    for _ in range(100):
        if not alive(pid):
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGTERM)
    for _ in range(40):
        if not alive(pid):
            return
        time.sleep(0.05)


def nginx_pids(name):
    pid = read_pid(started_nginx.get(name, '/nonexistent'))
    if pid is None:
        return []
    return [pid] + children(pid)


def nginx_workers(name):
    pid = read_pid(started_nginx.get(name, '/nonexistent'))
    return children(pid) if pid else []


def start_proc(name, argv, cpus, port, logfile=None):
    full = ['taskset', '-c', cpus] + argv
    note_cmd('servers', full)
    out = open(logfile, 'w') if logfile else subprocess.DEVNULL
    if not port_free(port):
        raise RuntimeError('port %d is taken' % port)
    p = subprocess.Popen(full, stdout=out, stderr=subprocess.STDOUT,
                         start_new_session=True)
    started_procs[name] = p
    wait_port(port, 20)
    return p


def stop_proc(name):
    p = started_procs.pop(name, None)
    if p is None:
        return
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


def stop_all():
    for name in list(started_procs):
        p = started_procs[name]
        if p.poll() is None:
            p.terminate()
    for name in list(started_procs):
        stop_proc(name)
    # ask every nginx to quit at once, then wait for each
    for name, pidf in list(started_nginx.items()):
        pid = read_pid(pidf)
        if pid is not None and alive(pid):
            os.kill(pid, signal.SIGQUIT)
    for name in list(started_nginx):
        stop_nginx(name)


def on_signal(signum, frame):
    stop_all()
    sys.exit(1)


atexit.register(stop_all)
signal.signal(signal.SIGTERM, on_signal)
signal.signal(signal.SIGINT, on_signal)


def parse_kv(text):
    out = {}
    for line in text.splitlines():
        for tok in line.split():
            if '=' in tok:
                k, v = tok.split('=', 1)
                try:
                    out[k] = float(v) if re.match(r'^-?[\d.]+$', v) else v
                except ValueError:
                    out[k] = v
    return out


def loadgen(section, args, cpus=None, timeout=None, background=False):
    """Runs bench/loadgen; returns its key=value output as a dict."""
    argv = [LOADGEN] + [str(a) for a in args]
    if cpus:
        argv = ['taskset', '-c', cpus] + argv
    note_cmd(section, argv)
    if background:
        return subprocess.Popen(argv, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    if timeout is None:
        timeout = 120
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError('loadgen %s failed: %s' % (' '.join(argv),
                                                     p.stderr.strip()[-500:]))
    return parse_kv(p.stdout)


def collect(p, timeout=120):
    out, err = p.communicate(timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError('loadgen failed: %s' % err.strip()[-500:])
    return parse_kv(out)


def record(scenario, sut, layout, res, **extra):
    res = dict(res)
    res.update(scenario=scenario, sut=sut, layout=layout)
    res.update(extra)
    R['runs'].append(res)
    log('%-14s %-12s %-8s rate=%-9s p50=%sus p99=%sus %s' % (
        scenario, sut, layout, res.get('rate', '-'), res.get('p50_us', '-'),
        res.get('p99_us', '-'),
        ' '.join('%s=%s' % kv for kv in extra.items())))
    return res


def section(name):
    return ONLY is None or name in ONLY


def guarded(name, fn):
    if not section(name):
        return
    log('== %s' % name)
    t = time.time()
    try:
        fn()
    except Exception as e:                      # keep going, report it
        import traceback
        traceback.print_exc()
        R['errors'].append('%s: %s' % (name, e))
        log('!! %s failed: %s' % (name, e))
    R.setdefault('section_time', {})[name] = time.time() - t


# ---------------------------------------------------------------- systems

def herd_body(name, port, peers, peer_ports, zone='64m', places=''):
    lines = ['stream {', '    herd_zone zone=%s:%s;' % (name, zone)]
    if places:
        lines.append(places)
    lines += ['    server {',
              '        listen 127.0.0.1:%d;' % port,
              '        herd %s zone=%s;' % (name, name)]
    for p in peers:
        lines.append('        herd_peer %s 127.0.0.1:%d;' % (p, peer_ports[p]))
    lines += ['    }', '}']
    return '\n'.join(lines)


def places_directives(url):
    return ('    herd_places_api new;\n'
            '    herd_places_url %s;\n'
            '    herd_places_key bench-not-a-google-key;\n'
            '    herd_places_concurrency 2048;' % url)


def start_herd(layout, places=None):
    workers = 1 if layout == 'pinned' else 2
    cpus = SUT_CPU if layout == 'pinned' else ALL_CPUS
    for n in NAMES:
        pl = ''
        if places:
            pl = places_directives(places[n])
        body = herd_body(n, HERD_PORT[n], GRAPH[n], HERD_PORT, places=pl)
        start_nginx('herd-' + n, nginx_conf('herd-' + n, body, workers),
                    cpus, HERD_PORT[n])
    wait_links()


def stop_herd():
    for n in NAMES:
        pid = read_pid(started_nginx.get('herd-' + n, '/nonexistent'))
        if pid is not None and alive(pid):
            os.kill(pid, signal.SIGQUIT)
    for n in NAMES:
        stop_nginx('herd-' + n)


def wait_links():
    # links come up within ~100 ms of start; a probe through the herd
    # (IAMAT at Goloman, visible at Welsh) proves every hop is up
    probe(HERD_PORT['Goloman'], HERD_PORT['Welsh'])


def probe(a, b, timeout=15.0):
    end = time.time() + timeout
    n = 0
    while time.time() < end:
        n += 1
        t = '%d.%09d' % (int(time.time()), n)
        msg = 'IAMAT probe.bench +34.068930-118.445127 %s\n' % t
        with socket.create_connection(('127.0.0.1', a), 2) as s:
            s.sendall(msg.encode())
            s.shutdown(socket.SHUT_WR)
            while s.recv(4096):
                pass
        t1 = time.time() + 1.0
        while time.time() < t1:
            with socket.create_connection(('127.0.0.1', b), 2) as s:
                s.sendall(b'WHATSAT probe.bench 1 1\n')
                s.shutdown(socket.SHUT_WR)
                data = b''
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            if data.split(b'\n', 1)[0].endswith(t.encode()):
                return
            time.sleep(0.02)
    raise RuntimeError('the herd on %d..%d does not propagate' % (a, b))


def start_single(layout):
    workers = 1 if layout == 'pinned' else 2
    cpus = SUT_CPU if layout == 'pinned' else ALL_CPUS
    body = herd_body('Single', SINGLE_PORT, [], {})
    start_nginx('herd-single', nginx_conf('herd-single', body, workers),
                cpus, SINGLE_PORT)


def start_asyncio(layout, places=None, level='warning'):
    cpus = SUT_CPU if layout == 'pinned' else ALL_CPUS
    d = os.path.join(BUILD, 'srv', 'asyncio')
    os.makedirs(d, exist_ok=True)
    for n in NAMES:
        argv = [PY, BASELINE, '--name', n, '--port', str(PY_PORT[n]),
                '--log', os.path.join(d, n + '.log'), '--log-level', level]
        for p in GRAPH[n]:
            argv += ['--peer', '%s=127.0.0.1:%d' % (p, PY_PORT[p])]
        if places:
            argv += ['--places-url', places[n], '--places-key',
                     'bench-not-a-google-key', '--places-concurrency', '2048']
        if os.path.exists(os.path.join(d, n + '.log')):
            os.unlink(os.path.join(d, n + '.log'))
        start_proc('asyncio-' + n, argv, cpus, PY_PORT[n])
    probe(PY_PORT['Goloman'], PY_PORT['Welsh'])


def stop_asyncio():
    for n in NAMES:
        p = started_procs.get('asyncio-' + n)
        if p is not None and p.poll() is None:
            p.terminate()
    for n in NAMES:
        stop_proc('asyncio-' + n)


def start_ceilings(layout):
    threads = '1' if layout == 'pinned' else '2'
    cpus = SUT_CPU if layout == 'pinned' else ALL_CPUS
    start_proc('ceiling', [CEILING, '-p', str(CEIL_PORT), '-t', threads],
               cpus, CEIL_PORT)
    body = ('stream {\n    server {\n        listen 127.0.0.1:%d;\n'
            '        return "%s";\n    }\n}' % (RETURN_PORT, REPLY88))
    conf = nginx_conf('return', body, int(threads)).replace(
        'load_module %s;\n' % MODULE, '')
    start_nginx('return', conf, cpus, RETURN_PORT)


def stop_ceilings():
    stop_proc('ceiling')
    stop_nginx('return')


def sut_pids(sut):
    if sut == 'herd':
        return sum((nginx_workers('herd-' + n) for n in NAMES), [])
    if sut == 'herd-goloman':
        return nginx_workers('herd-Goloman')
    if sut == 'herd-single':
        return nginx_workers('herd-single')
    if sut == 'asyncio':
        return [started_procs['asyncio-' + n].pid for n in NAMES
                if 'asyncio-' + n in started_procs]
    if sut == 'asyncio-goloman':
        p = started_procs.get('asyncio-Goloman')
        return [p.pid] if p else []
    if sut == 'ceiling':
        p = started_procs.get('ceiling')
        return [p.pid] if p else []
    if sut == 'return':
        return nginx_workers('return')
    return []


SUT_PORT = {'herd': HERD_PORT['Goloman'], 'herd-single': SINGLE_PORT,
            'asyncio': PY_PORT['Goloman'], 'ceiling': CEIL_PORT,
            'return': RETURN_PORT}


def timed_run(scenario, sut, layout, args, cpus, **extra):
    """A loadgen run with the CPU time the servers used during it."""
    pids = sut_pids(sut)
    gpids = sut_pids(sut + '-goloman') if sut in ('herd', 'asyncio') else []
    t0 = time.time()
    c0, g0 = cpu_ticks(pids), cpu_ticks(gpids)
    res = loadgen(scenario, args, cpus)
    el = time.time() - t0
    hz = os.sysconf('SC_CLK_TCK')
    extra['server_cpu'] = round((cpu_ticks(pids) - c0) / hz / el, 2)
    if gpids:
        extra['goloman_cpu'] = round((cpu_ticks(gpids) - g0) / hz / el, 2)
    return record(scenario, sut, layout, res, **extra)


# ---------------------------------------------------------------- scenarios

def throughput(layout):
    lg_cpu = LG_CPU if layout == 'pinned' else None
    common = ['-c', 50, '-t', DUR, '-W', WARM]
    scen = [
        ('iamat-d1', ['ceiling', 'herd', 'herd-single', 'asyncio'], []),
        ('iamat-d32', ['ceiling', 'herd', 'herd-single', 'asyncio'],
         ['-d', 32]),
        ('connect', ['return', 'ceiling', 'herd', 'herd-single', 'asyncio'],
         ['-m', 'connect']),
    ]
    for rep in range(REPS):
        for name, suts, args in scen:
            for sut in suts:
                a = ['-p', SUT_PORT[sut], '-l', '%s-%s' % (name, sut),
                     '-i', 'tp%02d' % rep] + common + args
                if sut == 'return':
                    a.append('-e')          # "return" reads nothing
                timed_run(name, sut, layout, a, lg_cpu, rep=rep)
        # herd-wide: spread over the five servers, then check convergence
        for sut, ports in (('herd', HERD_PORT), ('asyncio', PY_PORT)):
            plist = ','.join(str(ports[n]) for n in NAMES)
            a = ['-p', plist, '-V', plist, '-T', 30, '-l', 'wide-' + sut,
                 '-i', 'hw%02d' % rep, '-d', 32] + common
            timed_run('herd-wide', sut, layout, a, lg_cpu, rep=rep)


def latency_curve():
    rates = [2000, 5000, 10000, 20000, 30000, 40000, 60000, 80000, 100000,
             130000]
    if QUICK:
        rates = [5000, 20000, 60000]
    for sut in ('ceiling', 'herd', 'asyncio'):
        for r in rates:
            a = ['-p', SUT_PORT[sut], '-c', 50, '-r', r, '-t',
                 0.7 if QUICK else 1.5, '-W', 0.3, '-l', 'curve-' + sut,
                 '-i', 'lc00']
            res = timed_run('curve', sut, 'pinned', a, LG_CPU, target=r)
            if res['rate'] < 0.95 * r or res['p99_us'] > 50000:
                break


def propagation(sut, layout='pinned'):
    lg_cpu = LG_CPU if layout == 'pinned' else None
    ports = HERD_PORT if sut == 'herd' else PY_PORT
    g, w = ports['Goloman'], ports['Welsh']
    dur = 2 if QUICK else 4
    a = ['-m', 'prop', '-p', g, '-P', w, '-S', 500, '-W', 0.5, '-t', 2,
         '-l', 'prop-idle-' + sut]
    record('prop-idle', sut, layout, loadgen('propagation', a, lg_cpu))
    bg = loadgen('propagation', ['-p', g, '-c', 10, '-r', 10000, '-t',
                                 dur + 1.5, '-W', 0.5, '-i', 'bg00',
                                 '-l', 'prop-bg-' + sut],
                 lg_cpu, background=True)
    time.sleep(0.7)
    a = ['-m', 'prop', '-p', g, '-P', w, '-S', 500, '-W', 0.3, '-t', dur,
         '-l', 'prop-load-' + sut]
    res = loadgen('propagation', a, lg_cpu)
    bgres = collect(bg)
    record('prop-load', sut, layout, res, bg_rate=bgres.get('rate'),
           bg_p99_us=bgres.get('p99_us'))


def strace_count(sut, depth, n):
    pids = sut_pids(sut + '-goloman' if sut in ('herd', 'asyncio') else sut)
    if not pids or not shutil.which('strace'):
        return
    out = os.path.join(BUILD, 'strace-%s-d%d.txt' % (sut, depth))
    argv = ['strace', '-c', '-f', '-o', out]
    for p in pids:
        argv += ['-p', str(p)]
    note_cmd('syscalls', argv)
    st = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    time.sleep(0.7)
    try:
        res = loadgen('syscalls', ['-p', SUT_PORT[sut], '-c', 50, '-d', depth,
                                   '-n', n, '-t', 60, '-i', 'st%02d' % depth,
                                   '-l', 'strace-%s-d%d' % (sut, depth)],
                      LG_CPU)
    finally:
        time.sleep(0.2)
        st.send_signal(signal.SIGINT)
        try:
            st.wait(10)
        except subprocess.TimeoutExpired:
            st.kill()
            st.wait(5)
    calls = {}
    total = 0
    with open(out) as f:
        for line in f:
            m = re.match(r'^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$',
                         line)
            if m:
                calls[m.group(2)] = int(m.group(1))
            m = re.match(r'^\s*100\.00\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?total',
                         line)
            if m:
                total = int(m.group(1))
    done = res.get('done', n) or n
    R.setdefault('strace', []).append({
        'sut': sut, 'depth': depth, 'iamats': done, 'total': total,
        'per_iamat': total / done, 'calls': calls})
    log('strace %s d%d: %.3f syscalls per IAMAT (%s)' % (
        sut, depth, total / done,
        ', '.join('%s %.3f' % (k, v / done) for k, v in
                  sorted(calls.items(), key=lambda kv: -kv[1])[:6])))


def perf_profile(name, args):
    if not R.get('perf_ok'):
        return
    bg = loadgen('profiles', args, LG_CPU, background=True)
    time.sleep(0.8)
    perf_record(name)
    collect(bg)
    perf_analyze(name)


def perf_record(name, secs=2):
    """Samples core 1 for secs seconds; keeps the top symbols."""
    if not R.get('perf_ok'):
        return
    out = os.path.join(BUILD, 'perf-%s.data' % name)
    argv = ['perf', 'record', '-q', '-e', 'cpu-clock', '-C', SUT_CPU, '-g',
            '-o', out, '--', 'sleep', str(secs)]
    note_cmd('profiles', argv)
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=30)


def perf_analyze(name):
    if not R.get('perf_ok'):
        return
    out = os.path.join(BUILD, 'perf-%s.data' % name)
    rep = subprocess.run(['perf', 'report', '-i', out, '--no-children',
                          '--sort', 'sym', '-g', 'none', '--percent-limit',
                          '1', '--stdio'], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True, timeout=60)
    rows = []
    for line in rep.stdout.splitlines():
        m = re.match(r'^\s*([\d.]+)%\s+\[(.)\]\s+(\S+)', line)
        if m:
            rows.append((float(m.group(1)), m.group(2), m.group(3)))
    by = subprocess.run(['perf', 'report', '-i', out, '--no-children',
                         '--sort', 'pid', '-g', 'none', '--stdio'],
                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                        text=True, timeout=60)
    pids = []
    for line in by.stdout.splitlines():
        m = re.match(r'^\s*([\d.]+)%\s+(\d+):(\S+)', line)
        if m:
            pids.append((float(m.group(1)), int(m.group(2)), m.group(3)))
    hot = None
    sym = next((sy for _, _, sy in rows if 'zone_lookup' in sy), None)
    if sym:
        an = subprocess.run(['perf', 'annotate', '-i', out, '--stdio', '-s',
                             sym], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, timeout=60)
        prev, best = None, None
        for line in an.stdout.splitlines():
            m = re.match(r'^\s*([\d.]+)\s*:\s+([0-9a-f]+):\s+(.*)$', line)
            if not m:
                continue
            pc, ins = float(m.group(1)), ' '.join(m.group(3).split())
            if best is None or pc > best[0]:
                best = (pc, ins, prev)
            prev = ins
        if best:
            hot = {'symbol': sym, 'share': best[0], 'instruction': best[1],
                   'previous': best[2]}
    names = {}
    for n in NAMES:
        for p in nginx_workers('herd-' + n):
            names[p] = 'herd ' + n
    R.setdefault('perf', {})[name] = {
        'top': rows[:25],
        'lookup_hot': hot,
        'by_process': [(pc, names.get(pid, comm)) for pc, pid, comm in pids
                       if pc >= 0.5]}
    log('perf %s: %s' % (name, ', '.join('%.1f%% %s' % (p, s)
                                         for p, _, s in rows[:6])))


# ---------------------------------------------------------------- sections

def start_pinned():
    """The pinned layout's servers, unless they already run (the sections
    after `pinned` share them; `--only` may start with any of them)."""
    if read_pid(started_nginx.get('herd-Goloman', '/nonexistent')):
        return
    stop_all()
    start_ceilings('pinned')
    start_herd('pinned')
    start_single('pinned')
    start_asyncio('pinned')


def sec_pinned():
    start_pinned()
    throughput('pinned')


def sec_curve():
    start_pinned()
    latency_curve()


def sec_prop():
    start_pinned()
    propagation('herd')
    propagation('asyncio')


def sec_syscalls():
    start_pinned()
    for sut in ('herd', 'asyncio', 'ceiling'):
        strace_count(sut, 1, 4000 if QUICK else 20000)
        strace_count(sut, 32, 40000 if QUICK else 200000)


def sec_profiles():
    start_pinned()
    common = ['-c', 50, '-t', 3.2, '-i', 'pf00']
    perf_profile('herd-d1', ['-p', HERD_PORT['Goloman'], '-l', 'pf-d1']
                 + common)
    perf_profile('herd-d32', ['-p', HERD_PORT['Goloman'], '-d', 32,
                              '-l', 'pf-d32'] + common)
    perf_profile('herd-connect', ['-p', HERD_PORT['Goloman'], '-m', 'connect',
                                  '-l', 'pf-conn'] + common)


def sec_unpinned():
    stop_all()
    start_ceilings('unpinned')
    start_herd('unpinned')
    start_single('unpinned')
    start_asyncio('unpinned')
    throughput('unpinned')
    propagation('herd', 'unpinned')
    propagation('asyncio', 'unpinned')
    stop_all()


def time_wait(port):
    """Connections to port closed by their client in the last minute."""
    p = subprocess.run(['ss', '-Htan', 'state', 'time-wait',
                        '( dport = :%d )' % port], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, text=True)
    return len([l for l in p.stdout.splitlines() if l.strip()])


def sec_whatsat():
    stop_all()
    if not os.path.exists(STANDIN_CONF):
        R['notes'].append('conf/places-standin.conf is missing: WHATSAT '
                          'scenarios skipped')
        return
    with open(STANDIN_CONF) as f:
        text = f.read()
    d = os.path.join(BUILD, 'srv', 'standin')
    os.makedirs(d, exist_ok=True)
    text = text.replace('127.0.0.1:12080', '127.0.0.1:%d' % STANDIN_PORT)
    text = re.sub(r'\blogs/', d + '/', text)
    text = re.sub(r'access_log\s+[^;]*;', 'access_log off;', text)
    text = re.sub(r'error_log\s+([^;\s]*)[^;]*;', r'error_log \1 warn;', text)
    text = re.sub(r'pid\s+[^;]*;', 'pid %s/nginx.pid;' % d, text, count=1)
    # nginx closes a keep-alive connection after 1000 requests by default
    text = re.sub(r'\bhttp\s*\{', 'http {\n    keepalive_requests 10000000;', text,
                  count=1)
    text = user_line() + '\n' + text
    path = os.path.join(d, 'nginx.conf')
    with open(path, 'w') as f:
        f.write(text)
    argv = ['taskset', '-c', LG_CPU, NGINX, '-p', d + '/', '-c', path]
    note_cmd('servers', argv)
    subprocess.run(argv, check=True)
    started_nginx['standin'] = os.path.join(d, 'nginx.pid')
    wait_port(STANDIN_PORT)
    start_proc('slow-places', [PY, SLOW_PLACES, '--port', str(SLOW_PORT),
                               '--delay', '1'], LG_CPU, SLOW_PORT)

    fast = 'http://127.0.0.1:%d/v1/places:searchNearby' % STANDIN_PORT
    slow = 'http://127.0.0.1:%d/v1/places:searchNearby' % SLOW_PORT
    places = {n: fast for n in NAMES}
    places['Goloman'] = slow

    # the stand-in's own latency, asked the way the herd asks it
    body = ('{"maxResultCount":5,"locationRestriction":{"circle":{"center":'
            '{"latitude":34.068930,"longitude":-118.445127},"radius":10000}}}')
    req = ('POST /v1/places:searchNearby HTTP/1.1\r\n'
           'Host: 127.0.0.1:%d\r\nContent-Type: application/json\r\n'
           'X-Goog-Api-Key: bench-not-a-google-key\r\n'
           'X-Goog-FieldMask: places.id,places.displayName\r\n'
           'Content-Length: %d\r\n\r\n%s' % (STANDIN_PORT, len(body), body))
    reqf = os.path.join(BUILD, 'standin-request.http')
    with open(reqf, 'w') as f:
        f.write(req)
    d1 = ['-c', 1, '-t', 1 if QUICK else 2, '-W', 0.3]
    record('standin', 'standin', 'pinned',
           loadgen('whatsat', ['-p', STANDIN_PORT, '-w', 'http', '-F', reqf,
                               '-l', 'standin'] + d1, LG_CPU))

    for sut in ('herd', 'asyncio'):
        if sut == 'herd':
            start_herd('pinned', places=places)
            ports = HERD_PORT
        else:
            start_asyncio('pinned', places=places)
            ports = PY_PORT
        h = ports['Hands']
        record('whatsat-d1', sut, 'pinned',
               loadgen('whatsat', ['-p', h, '-w', 'whatsat', '-K', 10,
                                   '-i', 'ws01', '-l', 'whatsat-' + sut] + d1,
                       LG_CPU))
        tw0 = time_wait(STANDIN_PORT)
        r = loadgen('whatsat', ['-p', h, '-w', 'whatsat', '-c', 50,
                                '-K', 10, '-i', 'ws50', '-t', DUR,
                                '-W', WARM, '-l', 'whatsat50-' + sut],
                    LG_CPU)
        tw = max(0, time_wait(STANDIN_PORT) - tw0)
        record('whatsat-c50', sut, 'pinned', r, places_closed=tw,
               closed_per_whatsat=round(tw / max(1.0, r['done'] * (1 + WARM / DUR)), 3))
        record('mixed-c50', sut, 'pinned',
               loadgen('whatsat', ['-p', h, '-w', 'mixed', '-f', 0.1,
                                   '-c', 50, '-K', 10, '-i', 'mx50', '-t', DUR,
                                   '-W', WARM, '-l', 'mixed-' + sut],
                       LG_CPU))
        # 1000 WHATSATs in flight on the 1 s stand-in, IAMATs beside them
        g = ports['Goloman']
        dur = 3 if QUICK else 5
        slowlg = loadgen('whatsat', ['-p', g, '-w', 'whatsat', '-c', 1000,
                                     '-K', 1, '-i', 'sl00', '-t', dur + 2,
                                     '-l', 'inflight-' + sut],
                         LG_CPU, background=True)
        time.sleep(2.0)            # setup of 1000 clients, calls in flight
        fast = loadgen('whatsat', ['-p', g, '-c', 20, '-r', 10000, '-t', dur,
                                   '-W', 0.5, '-i', 'sl01',
                                   '-l', 'inflight-iamat-' + sut], LG_CPU,
                       background=True)
        if sut == 'herd':
            time.sleep(1.5)
            perf_record('herd-inflight')
        res = collect(fast, timeout=60)
        sl = collect(slowlg, timeout=60)
        if sut == 'herd':
            perf_analyze('herd-inflight')
        record('inflight', sut, 'pinned', res, whatsat_done=sl.get('done'),
               whatsat_rate=sl.get('rate'), places_ok=sl.get('places_ok'),
               places_err=sl.get('places_err'),
               whatsat_p50_us=sl.get('p50_us'))
        if sut == 'herd':
            stop_herd()
        else:
            stop_asyncio()
    # the same IAMAT load with nothing in flight, for reference
    start_herd('pinned')
    record('inflight-none', 'herd', 'pinned',
           loadgen('whatsat', ['-p', HERD_PORT['Goloman'], '-c', 20, '-r',
                               10000, '-t', 3 if QUICK else 5, '-W', 0.5,
                               '-i', 'sl02', '-l', 'iamat-10k-herd'], LG_CPU))
    stop_all()


def sec_memory():
    stop_all()
    rows = []
    for size_m in (8, 32):
        name = 'mem%d' % size_m
        body = herd_body('Mem', MEM_PORT, [], {}, zone='%dm' % size_m)
        start_nginx(name, nginx_conf(name, body, 1), SUT_CPU, MEM_PORT)
        n = int(size_m * 1048576 / 128)     # enough down to 128 B/client
        loadgen('memory', ['-p', MEM_PORT, '-c', 1, '-d', 64, '-K', 10000000,
                           '-n', n, '-t', 60, '-i', 'memz', '-l', name],
                LG_CPU)
        stop_nginx(name)
        held = None
        with open(os.path.join(BUILD, 'srv', name, 'error.log')) as f:
            for line in f:
                m = re.search(r'is full: evicted \d+ least recently updated '
                              r'records?, (\d+) held', line)
                if m:
                    held = int(m.group(1))
                    break
        rows.append({'zone_mb': size_m, 'held': held, 'sent': n})
        log('memory: %d MiB zone held %s clients when eviction started'
            % (size_m, held))
    R['memory'] = rows
    # the asyncio server's resident memory per client, for comparison
    p = start_proc('pymem', [PY, BASELINE, '--name', 'Mem', '--port',
                             str(PYMEM_PORT), '--log-level', 'warning'],
                   SUT_CPU, PYMEM_PORT)

    def rss(pid):
        with open('/proc/%d/status' % pid) as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1]) * 1024
        return 0
    loadgen('memory', ['-p', PYMEM_PORT, '-c', 1, '-d', 64, '-K', 10000000,
                       '-n', 1000, '-t', 60, '-i', 'pymw', '-l', 'pymem-warm'],
            LG_CPU)
    before = rss(p.pid)
    n = 100000
    loadgen('memory', ['-p', PYMEM_PORT, '-c', 1, '-d', 64, '-K', 10000000,
                       '-n', n, '-t', 60, '-i', 'pymz', '-l', 'pymem'],
            LG_CPU)
    after = rss(p.pid)
    stop_proc('pymem')
    R['pymem'] = {'clients': n, 'bytes': after - before}
    log('memory: asyncio RSS grew %d bytes for %d clients' % (after - before,
                                                               n))


def sec_catchup():
    stop_all()
    R['catchup'] = []
    for n, zone in ((100000, '64m'), (1000000, '320m')):
        if QUICK and n > 100000:
            continue
        env = dict(os.environ, CATCHUP_ZONE=zone, CATCHUP_PORTS=CATCHUP_PORTS,
                   CATCHUP_DIR=os.path.join(BUILD, 'catchup'),
                   NGINX_BIN=NGINX, STREAM_SO=STREAM_SO)
        argv = ['perl', CATCHUP, str(n), MODULE]
        note_cmd('catch-up', ['CATCHUP_ZONE=' + zone,
                              'CATCHUP_PORTS=' + CATCHUP_PORTS] + argv)
        p = subprocess.run(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=240)
        res = parse_kv([l for l in p.stdout.splitlines()
                        if l.startswith('RESULT')][-1]
                       if 'RESULT' in p.stdout else '')
        if p.returncode != 0 or not res:
            raise RuntimeError('catchup.pl %d failed: %s' % (n, p.stdout[-400:]))
        res['zone'] = zone
        R['catchup'].append(res)
        log('catch-up %d clients: %.3f s' % (n, res['catchup_s']))


def sec_callgrind():
    stop_all()
    if not shutil.which('valgrind') or not shutil.which('callgrind_annotate'):
        R['notes'].append('valgrind is missing: no instruction counts')
        return
    ports = {'Goloman': CG_PORT, 'Hands': CG_PORT + 1, 'Holiday': CG_PORT + 2,
             'Wilkes': CG_PORT + 3}
    # Goloman's neighbours Holiday and Wilkes: plain herd servers
    for n in ('Holiday', 'Wilkes'):
        body = herd_body(n, ports[n], ['Goloman'], ports, zone='16m')
        start_nginx('cg-' + n, nginx_conf('cg-' + n, body, 1), LG_CPU,
                    ports[n])
    # Goloman (core 1) and its neighbour Hands (core 0) under callgrind:
    # Goloman answers the clients and floods, Hands receives the floods
    vg = {}
    for n, peers, cpus in (('Hands', ['Goloman'], LG_CPU),
                           ('Goloman', ['Hands', 'Holiday', 'Wilkes'],
                            SUT_CPU)):
        d = os.path.join(BUILD, 'srv', 'cg-' + n)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        body = herd_body(n, ports[n], peers, ports, zone='16m')
        conf = nginx_conf('cg-' + n, body, 1,
                          extra_main='master_process off;\ndaemon off;')
        path = os.path.join(d, 'nginx.conf')
        with open(path, 'w') as f:
            f.write(conf)
        vg[n] = (d, start_proc('callgrind-' + n, [
            'valgrind', '--tool=callgrind',
            '--callgrind-out-file=' + os.path.join(d, 'callgrind.out'),
            NGINX, '-p', d + '/', '-c', path], cpus, ports[n],
            logfile=os.path.join(d, 'valgrind.log')))
    probe(CG_PORT, CG_PORT + 1, timeout=30)
    time.sleep(1.0)

    def ctl(flag):
        for n in ('Goloman', 'Hands'):
            argv = ['callgrind_control', flag, str(vg[n][1].pid)]
            note_cmd('instructions', argv)
            subprocess.run(argv, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=60, check=True)

    def dump(n, i):
        d = vg[n][0]
        for _ in range(100):
            files = sorted((f for f in os.listdir(d)
                            if f.startswith('callgrind.out.')),
                           key=lambda f: int(f.rsplit('.', 1)[1]))
            if len(files) >= i:
                return annotate(os.path.join(d, files[i - 1]))
            time.sleep(0.1)
        raise RuntimeError('no callgrind dump %d for %s' % (i, n))

    runs = [('iamat-d1', ['-c', 50, '-n', 2000 if QUICK else 20000]),
            ('iamat-d32', ['-c', 50, '-d', 32, '-n',
                           10000 if QUICK else 100000]),
            ('connect', ['-c', 20, '-m', 'connect', '-n',
                         500 if QUICK else 5000])]
    R['callgrind'] = []
    for i, (name, args) in enumerate(runs, 1):
        ctl('-z')
        res = loadgen('instructions', ['-p', CG_PORT, '-t', 120, '-i',
                                       'cg%02d' % i, '-l', 'cg-' + name]
                      + args, LG_CPU, timeout=200)
        time.sleep(2.0)            # let Hands take the last floods
        ctl('-d')
        c = dict(dump('Goloman', i), name=name, commands=res.get('done'))
        c['peer'] = dump('Hands', i)
        # what Hands took in during this dump, whatever arrived late
        c['peer']['updates'] = calls(c['peer']['path'],
                                     'ngx_stream_herd_peer_update')
        R['callgrind'].append(c)
        n = c['commands']
        m = c['peer']['updates'] or n
        log('callgrind %s: %.0f instructions per command (module %.0f); '
            'the neighbour %.0f per update received (module %.0f, %d '
            'updates)' % (name, c['total'] / n, c['module'] / n,
                          c['peer']['total'] / m, c['peer']['module'] / m,
                          m))
    for n in ('Goloman', 'Hands'):
        stop_proc('callgrind-' + n)
    for n in ('Holiday', 'Wilkes'):
        stop_nginx('cg-' + n)


def calls(path, fn):
    """How many times fn ran, from callgrind's caller tree: the largest
    count of calls it made to one callee (peer_update calls parse_update
    once per line)."""
    p = subprocess.run(['callgrind_annotate', '--tree=caller',
                        '--threshold=100', path], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, text=True, timeout=120)
    n = 0
    for l in p.stdout.splitlines():
        m = re.search(r'<\s+\S*:%s \(([\d,]+)x\)' % re.escape(fn), l)
        if m:
            n = max(n, int(m.group(1).replace(',', '')))
    return n


def annotate(path):
    p = subprocess.run(['callgrind_annotate', '--inclusive=no',
                        '--threshold=100', path], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, text=True, timeout=120)
    total = 0
    cats = {'module': 0, 'nginx': 0, 'libc': 0, 'other': 0}
    funcs = []
    for line in p.stdout.splitlines():
        m = re.match(r'^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+PROGRAM TOTALS', line)
        if m:
            total = int(m.group(1).replace(',', ''))
            continue
        m = re.match(r'^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(.*?):(\S+)'
                     r'(?:\s+\[(.*)\])?\s*$', line)
        if not m:
            continue
        ir = int(m.group(1).replace(',', ''))
        fn, obj = m.group(3), m.group(4) or ''
        if fn in ('main', '(below main)') or 'libc-start' in m.group(2) \
                or 'libc_start_call_main' in m.group(2) \
                or fn.startswith('0x') and ir == total:
            continue
        if fn.startswith('ngx_stream_herd_') or 'ngx_herd_module' in obj \
                or 'ngx_stream_herd_module.so' in obj:
            cat = 'module'
        elif 'libc.so' in obj:
            cat = 'libc'
        elif obj.endswith('/nginx') or 'ngx_stream_module' in obj \
                or fn.startswith('ngx_'):
            cat = 'nginx'
        else:
            cat = 'other'
        cats[cat] += ir
        funcs.append((ir, fn, cat))
    funcs.sort(reverse=True)
    return dict(total=total, top=funcs[:20], path=path, **cats)


# ---------------------------------------------------------------- report

def plot():
    if not shutil.which('gnuplot'):
        R['notes'].append('gnuplot is missing: no plot')
        return False
    data = {}
    for sut in ('ceiling', 'herd', 'asyncio'):
        rs = sorted((r for r in R['runs'] if r['scenario'] == 'curve'
                     and r['sut'] == sut), key=lambda r: r['target'])
        path = os.path.join(BUILD, 'curve-%s.dat' % sut)
        with open(path, 'w') as f:
            for r in rs:
                f.write('%f %f %f %f\n' % (r['rate'], r['p50_us'] / 1000,
                                           r['p99_us'] / 1000,
                                           r['target']))
        data[sut] = path
    if not any(os.path.getsize(p) for p in data.values()):
        return False
    script = """
set terminal pngcairo size 1100,480 font ",10"
set output '%s'
set multiplot layout 1,2 title "Latency vs load: IAMAT, 50 persistent connections at depth 1, paced (pinned layout)"
set logscale y
set grid
set xlabel "answered IAMAT/s"
set ylabel "latency (ms, log scale)"
set key top left
set format x "%%.0s%%c"
set title "p50"
plot '%s' using 1:2 with linespoints lw 2 title "C epoll ceiling", \\
     '%s' using 1:2 with linespoints lw 2 title "herd (nginx module)", \\
     '%s' using 1:2 with linespoints lw 2 title "asyncio herd"
set title "p99"
plot '%s' using 1:3 with linespoints lw 2 title "C epoll ceiling", \\
     '%s' using 1:3 with linespoints lw 2 title "herd (nginx module)", \\
     '%s' using 1:3 with linespoints lw 2 title "asyncio herd"
unset multiplot
""" % (PLOT, data['ceiling'], data['herd'], data['asyncio'],
       data['ceiling'], data['herd'], data['asyncio'])
    sp = os.path.join(BUILD, 'latency.gp')
    with open(sp, 'w') as f:
        f.write(script)
    note_cmd('plot', ['gnuplot', sp])
    p = subprocess.run(['gnuplot', sp], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=60)
    if p.returncode != 0:
        R['notes'].append('gnuplot failed: ' + p.stdout[-300:])
        return False
    return True


def write_doc(have_plot):
    import report
    text = report.render(R, COMMANDS, have_plot, globals())
    with open(DOC, 'w') as f:
        f.write(text)
    log('wrote %s' % DOC)


# ---------------------------------------------------------------- main

def machine():
    info = {}
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    info['cpu'] = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    info['cores'] = os.cpu_count()
    info['kernel'] = os.uname().release
    p = subprocess.run([NGINX, '-v'], stderr=subprocess.PIPE, text=True)
    info['nginx'] = p.stderr.strip().split('/')[-1]
    p = subprocess.run([PY, '-c', 'import sys, aiohttp; print(sys.version.'
                        'split()[0], aiohttp.__version__)'],
                       stdout=subprocess.PIPE, text=True)
    info['python'], info['aiohttp'] = (p.stdout.split() + ['?', '?'])[:2]
    with open('/proc/meminfo') as f:
        info['mem_gb'] = round(int(f.readline().split()[1]) / 1048576)
    return info


def nginx_tests_running():
    n = 0
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        try:
            with open('/proc/%s/cmdline' % pid, 'rb') as f:
                if b'nginx-test' in f.read():
                    n += 1
        except OSError:
            pass
    return n


def wait_quiet():
    limit = float(os.environ.get('BENCH_QUIET_WAIT', '10' if QUICK else '90'))
    t = time.time()
    while True:
        load = float(open('/proc/loadavg').read().split()[0])
        tests = nginx_tests_running()
        if (load < 0.5 and tests == 0) or time.time() - t > limit:
            break
        log('waiting for a quiet machine: load %.2f, %d test nginx '
            'processes' % (load, tests))
        time.sleep(5)
    R['quiet'] = {'waited_s': round(time.time() - t), 'load1': load,
                  'test_nginx': tests, 'busy': busy_processes()}


def busy_processes():
    """Other processes using a noticeable share of a core right now."""
    def snap():
        out = {}
        for pid in os.listdir('/proc'):
            if pid.isdigit():
                try:
                    with open('/proc/%s/stat' % pid) as f:
                        st = f.read()
                    comm = st[st.index('(') + 1:st.rindex(')')]
                    fl = st.rsplit(')', 1)[1].split()
                    out[int(pid)] = (comm, int(fl[11]) + int(fl[12]))
                except (OSError, ValueError, IndexError):
                    pass
        return out
    a = snap()
    time.sleep(1.0)
    b = snap()
    hz = os.sysconf('SC_CLK_TCK')
    busy = []
    for pid, (comm, t) in b.items():
        if pid in a and pid != os.getpid():
            share = (t - a[pid][1]) / hz
            if share >= 0.1:
                busy.append((round(share, 2), comm))
    return sorted(busy, reverse=True)[:6]


def main():
    os.makedirs(BUILD, exist_ok=True)
    for f in (LOADGEN, CEILING, MODULE):
        if not os.path.exists(f):
            sys.exit('%s is missing: run `make bench` (or bench/run)' % f)
    R['machine'] = machine()
    R['quick'] = QUICK
    R['reps'] = REPS
    R['dur'] = DUR
    R['warm'] = WARM
    p = subprocess.run(['perf', 'stat', '-e', 'instructions', 'true'],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True) if shutil.which('perf') else None
    R['perf_hw'] = bool(p and 'not supported' not in p.stdout
                        and p.returncode == 0)
    p = subprocess.run(['perf', 'stat', '-e', 'cpu-clock', 'true'],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True) if shutil.which('perf') else None
    R['perf_ok'] = bool(p and p.returncode == 0)
    wait_quiet()
    R['start'] = time.strftime('%Y-%m-%d %H:%M:%S %Z')

    guarded('pinned', sec_pinned)
    guarded('curve', sec_curve)
    guarded('propagation', sec_prop)
    guarded('syscalls', sec_syscalls)
    guarded('profiles', sec_profiles)
    stop_all()
    guarded('unpinned', sec_unpinned)
    guarded('whatsat', sec_whatsat)
    guarded('memory', sec_memory)
    guarded('catchup', sec_catchup)
    guarded('callgrind', sec_callgrind)
    stop_all()

    R['elapsed_s'] = round(time.time() - T0)
    R['load_end'] = float(open('/proc/loadavg').read().split()[0])
    R['busy_end'] = busy_processes()
    have_plot = plot()          # first: its command goes into the results
    with open(RESULTS, 'w') as f:
        json.dump({'R': R, 'commands': COMMANDS}, f, indent=1, default=str)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    write_doc(have_plot)
    log('done in %d s' % R['elapsed_s'])


if __name__ == '__main__':
    main()
