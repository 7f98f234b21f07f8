"""The "why" section of docs/performance.md (called by report.py).

Every figure quoted here is computed from the run's results; the reasoning
around them is what the profiles of this suite have shown on this machine
(see the profile tables it prints).
"""


def _f(v, fmt='%.0f'):
    return 'n/a' if v is None else fmt % v


def _n(v):
    return 'n/a' if v is None else '{:,.0f}'.format(v)


def _pct(a, b):
    if not a or not b:
        return 'n/a'
    return '%.0f %%' % (100.0 * a / b)


def _top(R, name, n=6):
    p = (R.get('perf') or {}).get(name)
    if not p:
        return 'n/a'
    return ', '.join('`%s` %.0f %%' % (s, pc) for pc, _, s in p['top'][:n])


def _share(R, name, pattern):
    p = (R.get('perf') or {}).get(name)
    if not p:
        return None
    return sum(pc for pc, _, s in p['top'] if pattern in s)


def _kernel(R, name):
    p = (R.get('perf') or {}).get(name)
    if not p:
        return None
    return sum(pc for pc, where, _ in p['top'] if where == 'k')


def write(w, res, R, evals, perf_table):
    missed = [k for k, v in evals.items()
              if (v is False) or (isinstance(v, tuple) and False in v)]
    if not missed:
        w('Every target was met in this run.')
        w('')

    d1 = {s: res.best('iamat-d1', s, 'pinned') for s in
          ('herd', 'herd-single', 'ceiling', 'asyncio')}
    d32 = {s: res.best('iamat-d32', s, 'pinned') for s in
           ('herd', 'herd-single', 'ceiling', 'asyncio')}
    cn = {s: res.best('connect', s, 'pinned') for s in
          ('herd', 'herd-single', 'return', 'asyncio')}
    rate = lambda r: r and r.get('rate')

    w('### Flooding is most of the work, and here it runs on the same core')
    w('')
    w('An IAMAT at Goloman is stored five times and travels eight times: '
      'Goloman sends it to Hands, Holiday and Wilkes; Holiday to Welsh and '
      'Wilkes, Hands to Wilkes, Wilkes to Hands and Holiday; each '
      'receiver parses it and looks it up in its zone, and three of the '
      'eight copies arrive where the record is already stored ("not newer"). '
      'In production the five servers are five machines. On this 2-core VM '
      'they share core 1 with Goloman (pinned) or both cores with the load '
      'generator (unpinned), so every answered IAMAT costs the herd about '
      'nine line-handlings and a zone update on five zones, where the '
      'ceiling does one `memchr`.')
    w('')
    h, s, c = rate(d1['herd']), rate(d1['herd-single']), rate(d1['ceiling'])
    hc = d1['herd'] or {}
    w('- Depth 1 (pinned): the whole herd answered %s/s, %s of the ceiling; '
      'the same module as a single server without peers answered %s/s, %s '
      'of the ceiling. During the herd run Goloman used %s of core 1 and the '
      'four neighbours %s: the neighbours cost as much as the server the '
      'clients talk to. At depth 1 a link write carries only the few '
      'updates of one event-loop iteration, so each neighbour wakes up, '
      'reads and writes for a handful of lines, and the five processes take '
      'turns on one core.' % (
          _n(h), _pct(h, c), _n(s), _pct(s, c),
          _f(hc.get('goloman_cpu'), '%.2f'),
          _f((hc.get('server_cpu') or 0) - (hc.get('goloman_cpu') or 0)
             if hc else None, '%.2f')))
    h, s, c = rate(d32['herd']), rate(d32['herd-single']), rate(d32['ceiling'])
    hc = d32['herd'] or {}
    per_line = None
    if h and hc.get('server_cpu'):
        per_line = hc['server_cpu'] / (h * 9) * 1e9
    w('- Pipelined (pinned): the herd answered %s/s (%s of the ceiling), the '
      'single server %s/s (%s). Per answered IAMAT the herd used %s of core '
      '1 for nine line-handlings and five zone updates: about %s ns per line '
      'handled, system calls included. 500k IAMAT/s through the whole herd '
      'on one core would need about %s ns per line.' % (
          '{:,.0f}'.format(h) if h else 'n/a', _pct(h, c),
          '{:,.0f}'.format(s) if s else 'n/a', _pct(s, c),
          '%.2f µs' % (hc['server_cpu'] / h * 1e6) if h and hc.get('server_cpu') else 'n/a',
          _f(per_line), _f(1e9 / 500000 / 9)))
    h, s, r = rate(cn['herd']), rate(cn['herd-single']), rate(cn['return'])
    w('- Connect-per-command (pinned): the herd %s conn/s = %s of nginx '
      '`return`, the single server %s conn/s = %s. A connection costs the '
      'same accept, close and address formatting (`ngx_sock_ntop`) in nginx '
      'whatever the module does; the gap to `return` is again the flooding '
      'on the same core.' % (
          '{:,.0f}'.format(h) if h else 'n/a', _pct(h, r),
          '{:,.0f}'.format(s) if s else 'n/a', _pct(s, r)))
    w('')

    w('### Where the herd\'s time goes')
    w('')
    w('Sampled with `perf record -e cpu-clock -C 1` (no hardware counters on '
      'this VM, so timer sampling; kernel time attributed to the interrupted '
      'function, e.g. `pvm_irq_enable` is the paravirtualised kernel '
      're-enabling interrupts after the network stack\'s work) during the '
      'pinned runs, core 1 holding all five herd servers:')
    w('')
    w('- depth 1: %s;' % _top(R, 'herd-d1'))
    w('- pipelined: %s;' % _top(R, 'herd-d32'))
    w('- connect-per-command: %s.' % _top(R, 'herd-connect'))
    w('')
    lk = _share(R, 'herd-d32', 'zone_lookup')
    rb = sum(x or 0 for x in (_share(R, 'herd-d32', 'rbtree'),))
    sp = sum(x or 0 for x in (_share(R, 'herd-d32', 'is_space'),
                              _share(R, 'herd-d32', 'split'),
                              _share(R, 'herd-d32', 'parse_')))
    hot = ((R.get('perf') or {}).get('herd-d32') or {}).get('lookup_hot')
    hot_text = ('`perf annotate` puts %.0f %% of the lookup\'s samples on '
                'one instruction, `%s`, right after `%s`: the load of a tree '
                'node\'s key' % (hot['share'], hot['instruction'],
                                 hot['previous'])) if hot else (
        '`perf annotate` puts most of the lookup\'s samples on the load of '
        'each tree node\'s key')
    w(('In the pipelined run `ngx_stream_herd_zone_lookup` alone takes %s of '
      'the core, rbtree insert/delete %s more, and line splitting and '
      'parsing (`ngx_stream_herd_is_space`, `ngx_stream_herd_split`, '
      '`ngx_stream_herd_parse_*`) %s. ' + hot_text.replace('%', '%%') +
      '. The zone '
      'is a red-black tree keyed by the CRC-32 of the client id, so a lookup '
      'is ~log2(records) dependent cache misses into shared memory, and every '
      'line a neighbour receives (stored or not newer) pays one, every stored '
      'update pays a delete and an insert on top (the new record is a new '
      'allocation, so the node leaves the tree and comes back at the same '
      'key). The callgrind counts below say the same for instructions: of '
      'the user-space instructions per IAMAT most are the module\'s, and '
      'most of those are splitting and parsing (`ngx_stream_herd_is_space` '
      'is a real function called through the PLT for every byte of every '
      'line).') % (
          '%.0f %%' % lk if lk is not None else 'n/a',
          '%.0f %%' % rb, '%.0f %%' % sp))
    w('')
    cg = {c['name']: c for c in R.get('callgrind') or []}
    c = cg.get('iamat-d32')
    if c and c.get('peer'):
        n = c['commands'] or 1
        m = c['peer'].get('updates') or n
        scan = sum(ir for ir, fn, _ in c['peer']['top']
                   if any(k in fn for k in ('split', 'is_space', 'parse_decimal',
                                            'ngx_stream_herd_run')))
        w('Counted with callgrind (pipelined): Goloman executes %.0f '
          'user-space instructions per IAMAT, and its neighbour Hands %.0f '
          'per flood line it receives and stores, %.0f of them in the '
          'module. Byte-at-a-time scanning (finding the LF in '
          '`ngx_stream_herd_run` with `ngx_strlchr`, splitting fields with '
          '`ngx_stream_herd_split` and `ngx_stream_herd_is_space`, '
          '`ngx_stream_herd_parse_decimal`) is %.0f of the neighbour\'s '
          '%.0f: a flood line costs as much to take in as a client\'s '
          'IAMAT costs to answer, and there are eight of them per IAMAT.' % (
              c['total'] / n, c['peer']['total'] / m,
              c['peer']['module'] / m, scan / m, c['peer']['total'] / m))
        w('')
    perf_table(w, R, 'herd-d1', 'Profile: herd, IAMAT depth 1 (pinned, core 1)')
    perf_table(w, R, 'herd-d32', 'Profile: herd, IAMAT pipelined (pinned, core 1)')
    perf_table(w, R, 'herd-connect', 'Profile: herd, connect-per-command (pinned, core 1)')

    w('### Against the asyncio herd')
    w('')
    a1, a32, ac = rate(d1['asyncio']), rate(d32['asyncio']), rate(cn['asyncio'])
    w('The asyncio baseline is not slow where it matters most here: its '
      'per-line work is a handful of C calls (`bytes.split`, a dict lookup, '
      'a tuple compare), and with five processes it too spreads over the '
      'cores in the unpinned layout. In the pinned layout it answered %s '
      'IAMAT/s at depth 1, %s pipelined and %s connections/s. The 10× '
      'targets for pipelining and churn would need the herd at %s/s and %s '
      'conn/s on the same core, while nginx\'s own `return` (which reads '
      'nothing) reached %s conn/s: connection churn is bounded by the '
      'kernel and nginx\'s connection handling, not by the module (see the '
      'single server\'s row).' % (
          '{:,.0f}'.format(a1) if a1 else 'n/a',
          '{:,.0f}'.format(a32) if a32 else 'n/a',
          '{:,.0f}'.format(ac) if ac else 'n/a',
          '{:,.0f}'.format(10 * a32) if a32 else 'n/a',
          '{:,.0f}'.format(10 * ac) if ac else 'n/a',
          '{:,.0f}'.format(rate(cn['return'])) if rate(cn['return']) else 'n/a'))
    w('')

    p = res.last('prop-load', 'herd', 'pinned')
    pu = res.last('prop-load', 'herd', 'unpinned')
    if p and p['p99_us'] > 1000:
        w('### Propagation')
        w('')
        w('With 10,000 updates/s of background load the herd\'s p99 from '
          'Goloman to Welsh was %s (p50 %s; with no load p50 %s, p99 %s). '
          'The herd\'s outgoing peer links are connected with '
          '`ngx_event_connect_peer()` and never get `TCP_NODELAY` (nginx '
          'sets it only on accepted stream connections, in the content '
          'phase). With Nagle\'s algorithm on, a link that has one small '
          'write unacknowledged holds the next until the neighbour\'s '
          'delayed ACK, up to 40 ms on Linux; the neighbour never sends '
          'data back to piggyback the ACK on. That is the shape of this '
          'tail. All five servers also share core 1 with the background '
          'load (and with whatever else runs on this VM), so each hop waits '
          'for its turn on the core; unpinned, with two cores for '
          'everything, p50 was %s and p99 %s.' % (
              '%.1f ms' % (p['p99_us'] / 1000), '%.2f ms' % (p['p50_us'] / 1000),
              _f((res.last('prop-idle', 'herd', 'pinned') or {}).get('p50_us'), '%.0f µs'),
              _f((res.last('prop-idle', 'herd', 'pinned') or {}).get('p99_us'), '%.0f µs'),
              _f(pu and pu['p50_us'], '%.0f µs'), _f(pu and pu['p99_us'], '%.0f µs')))
        w('')

    write_places(w, res, R, evals, perf_table)

    mem = R.get('memory') or []
    if mem and evals.get('memory') is False:
        w('### Memory')
        w('')
        w('A record is the rbtree node (32 bytes up to `color`), the herd '
          'node header (48 bytes: offsets, LRU links, client time) and the '
          'AT line (89 bytes here): 169 bytes. The slab allocator rounds it '
          'up to its 256-byte class, 16 to a 4 KiB page, and keeps a '
          '24-byte descriptor per page: 256 + 1.5 bytes per client, which '
          'is what was measured. Any record from 129 to 256 bytes costs the '
          'same. Meeting 256 B needs either records of at most 128 bytes '
          '(impossible with an 89-byte AT line) or an allocator with finer '
          'size classes, which would also bring ~170-190 bytes per client.')
        w('')

    st = {(s['sut'], s['depth']): s for s in R.get('strace') or []}
    s1 = st.get(('herd', 1))
    if s1 and s1['per_iamat'] > 2:
        c = s1['calls']
        n = s1['iamats']
        w('### System calls at depth 1')
        w('')
        w('Per IAMAT Goloman\'s worker made %.3f `recvfrom` and %.3f `sendto` '
          '(%.3f `epoll_wait`): one read and one write for the client, and '
          'the flood writes on top, about one `sendto` per link per '
          'event-loop iteration (the loop handles several connections per '
          'iteration, so those are shared by several IAMATs). The client '
          'side is at the target; the flooding is what goes over 2.' % (
              c.get('recvfrom', 0) / n, c.get('sendto', 0) / n,
              c.get('epoll_wait', 0) / n))
        w('')


def write_places(w, res, R, evals, perf_table):
    fl = res.last('inflight', 'herd')
    ref = res.last('inflight-none', 'herd')
    if not fl:
        return
    if fl['p99_us'] > 2000:
        w('### IAMATs beside 1,000 WHATSATs in flight')
        w('')
        w('With 1,000 Places calls waiting on the slow stand-in, IAMATs on '
          'other connections of the same server had p50 %s and p99 %s; the '
          'same IAMAT load with nothing in flight had p50 %s and p99 %s. '
          'Part of the p99 is the pinned layout itself (five servers and '
          'the 10,000 IAMATs/s they flood on one shared core: see the '
          'reference). What the WHATSATs add is CPU on the same core: every '
          'answer that comes back is a libcurl transfer to finish, a JSON '
          'parse, a translation and a reply (about %s per second here), and '
          'two things grow with the number in flight: '
          '`ngx_stream_herd_places_query()` looks for an identical call in '
          'flight by walking the list of all calls in flight in the worker '
          '(1,000 entries, one `memcmp` of a heap object each, for every '
          'WHATSAT), and libcurl keeps one connection per call.' % (
              us(fl['p50_us']), us(fl['p99_us']),
              us(ref and ref['p50_us']), us(ref and ref['p99_us']),
              '{:,.0f}'.format(fl.get('whatsat_rate') or 0)))
        w('')
        perf_table(w, R, 'herd-inflight',
                   'Profile: herd with 1,000 WHATSATs in flight and 10,000 '
                   'IAMAT/s (pinned, core 1)')
    wc = res.last('whatsat-c50', 'herd')
    if wc:
        w('### WHATSAT throughput')
        w('')
        w('50 connections asking WHATSATs as fast as they are answered got '
          '%s/s from the herd (p50 %s). The herd\'s libcurl multi handle '
          'does not keep enough idle connections to the Places host: with '
          'no `CURLMOPT_MAXCONNECTS` set, libcurl sizes its connection cache '
          'from the number of transfers currently added, so as transfers '
          'come and go it closes connections and opens new ones: during '
          'this run the herd closed %s connections to the stand-in, %s per '
          'WHATSAT (the asyncio herd, with aiohttp\'s pool: %s). Against '
          'Google each of those is a TCP and TLS handshake that keep-alive '
          'should have saved.' % (
              '{:,.0f}'.format(wc['rate']), us(wc['p50_us']),
              '{:,.0f}'.format(wc.get('places_closed') or 0),
              wc.get('closed_per_whatsat', 'n/a'),
              (res.last('whatsat-c50', 'asyncio') or {}).get(
                  'closed_per_whatsat', 'n/a')))
        w('')


def us(v):
    if v is None:
        return 'n/a'
    if v >= 10000:
        return '%.0f ms' % (v / 1000)
    if v >= 1000:
        return '%.1f ms' % (v / 1000)
    return '%.0f µs' % v
