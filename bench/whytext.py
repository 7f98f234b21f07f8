"""The "why" section of docs/performance.md (called by report.py).

Every figure quoted here is computed from the run's results; the reasoning
around them is what the profiles of this suite show on this machine (see
the profile tables it prints) and what the module's code does.  The one
exception is labelled as such: a measurement made by hand, outside the
suite, quoted for comparison.
"""


def _f(v, fmt='%.0f'):
    return 'n/a' if v is None else fmt % v


def _n(v):
    return 'n/a' if v is None else '{:,.0f}'.format(v)


def _pct(a, b):
    if not a or not b:
        return 'n/a'
    return '%.0f %%' % (100.0 * a / b)


def _p(v):
    return 'n/a' if v is None else '%.0f %%' % v


def _perf(R, name):
    return (R.get('perf') or {}).get(name)


def _top(R, name, n=6):
    p = _perf(R, name)
    if not p:
        return 'n/a'
    return ', '.join('`%s` %.0f %%' % (s, pc) for pc, _, s in p['top'][:n])


def _share(R, name, *patterns):
    """Share of the core of the listed symbols (those of at least 1 %)
    whose name contains any of patterns; None without a profile."""
    p = _perf(R, name)
    if not p:
        return None
    return sum(pc for pc, _, s in p['top'] if any(x in s for x in patterns))


def _kernel(R, name):
    p = _perf(R, name)
    if not p:
        return None
    return sum(pc for pc, where, _ in p['top'] if where == 'k')


def _procs(R, name):
    """(Goloman, the four neighbours, idle, anything else) as shares of
    the profile's samples, or None."""
    p = _perf(R, name)
    if not p or not p.get('by_process'):
        return None
    g = nb = idle = other = 0.0
    for pc, who in p['by_process']:
        if who == 'herd Goloman':
            g += pc
        elif who.startswith('herd '):
            nb += pc
        elif who.startswith('swapper') or who == 'idle':
            idle += pc
        else:
            other += pc
    return g, nb, idle, other


def _cg_fn(d, n, *patterns):
    """Instructions per command of the functions in callgrind's top list
    whose name contains any of patterns (None if none is listed)."""
    irs = [ir for ir, fn, _ in d.get('top') or []
           if any(x in fn for x in patterns)]
    return sum(irs) / n if irs else None


def _cg_top(d, n, k=3):
    return ', '.join('`%s` %.0f' % (fn, ir / n)
                     for ir, fn, _ in (d.get('top') or [])[:k])


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
      'Goloman sends it to Hands, Holiday and Wilkes, and each server that '
      'stores it passes it on to its other neighbours (Hands to Wilkes, '
      'Holiday to Welsh and Wilkes, Wilkes to Hands and Holiday, Welsh has '
      'no other). Each receiver parses the line and looks the client up in '
      'its zone; the four receivers store it once each, so four of the '
      'eight copies arrive where the record is already stored ("not '
      'newer"). In production the five servers are five machines. On this '
      '2-core VM they share core 1 with Goloman (pinned) or both cores with '
      'the load generator (unpinned), so every answered IAMAT costs the '
      'herd nine line-handlings (the client\'s line and eight flood lines) '
      'and a zone update in each of five zones, where the ceiling does one '
      '`memchr`.')
    w('')
    h, s, c = rate(d1['herd']), rate(d1['herd-single']), rate(d1['ceiling'])
    hc = d1['herd'] or {}
    gcpu = hc.get('goloman_cpu')
    ncpu = ((hc.get('server_cpu') or 0) - (gcpu or 0)) if hc else None
    w('- Depth 1 (pinned): the whole herd answered %s/s, %s of the ceiling; '
      'the same module as a single server without peers answered %s/s, %s '
      'of the ceiling. During the herd run Goloman used %s of core 1 and the '
      'four neighbours together %s (%s of Goloman\'s share) for the flood '
      'lines alone. At depth 1 a link write carries only the few updates of '
      'one event-loop iteration, so each neighbour wakes up, reads and '
      'writes for a handful of lines, and the five processes take turns on '
      'one core.' % (
          _n(h), _pct(h, c), _n(s), _pct(s, c), _f(gcpu, '%.2f'),
          _f(ncpu, '%.2f'), _pct(ncpu, gcpu)))
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
          _n(h), _pct(h, c), _n(s), _pct(s, c),
          '%.2f µs' % (hc['server_cpu'] / h * 1e6)
          if h and hc.get('server_cpu') else 'n/a',
          _f(per_line), _f(1e9 / 500000 / 9)))
    h, s, r = rate(cn['herd']), rate(cn['herd-single']), rate(cn['return'])
    cg = {c['name']: c for c in R.get('callgrind') or []}
    cc, cd = cg.get('connect'), cg.get('iamat-d1')
    cg_text = ''
    if cc and cd and cc.get('commands') and cd.get('commands'):
        cg_text = (' Callgrind counts %.0f user-space instructions per '
                   'connection at Goloman (%.0f of them in nginx and libc, '
                   'among them accepting, the connection\'s pool, formatting '
                   'the address with `ngx_sock_ntop` and closing) against %.0f per IAMAT on a '
                   'persistent connection; the kernel\'s part of a '
                   'connection (TCP setup and teardown) is not in those '
                   'counts: the kernel symbols of the connect-per-command '
                   'profile below add up to %s of core 1.' % (
                       cc['total'] / cc['commands'],
                       (cc['nginx'] + cc['libc']) / cc['commands'],
                       cd['total'] / cd['commands'],
                       _p(_kernel(R, 'herd-connect'))))
    w('- Connect-per-command (pinned): the herd %s conn/s = %s of nginx '
      '`return`, the single server without peers %s conn/s = %s. Flooding '
      'accounts for the difference between the herd and the single server; '
      'the rest of the gap to `return` is what a server that answers a '
      'command does per connection and `return` does not: it reads the '
      'command, answers it and reads the client\'s half-close before it '
      'closes, where `return` writes its line and closes without '
      'reading.%s' % (
          _n(h), _pct(h, r), _n(s), _pct(s, r), cg_text))
    hw, aw = res.best('herd-wide', 'herd', 'pinned'), \
        res.best('herd-wide', 'asyncio', 'pinned')
    if hw and aw:
        w('- Herd-wide (pinned): %s accepted updates/s against the asyncio '
          'herd\'s %s (%s); wherever an update arrives it is stored five '
          'times and handled nine times, all on core 1, where the herd used '
          '%s µs of the core per accepted update.' % (
              _n(hw.get('rate')), _n(aw.get('rate')),
              '%.1f×' % (hw['rate'] / aw['rate']) if aw.get('rate') else 'n/a',
              _f(hw['server_cpu'] / hw['rate'] * 1e6, '%.2f')
              if hw.get('server_cpu') and hw.get('rate') else 'n/a'))
    w('')

    write_profile(w, res, R, evals, perf_table)

    w('### Against the asyncio herd')
    w('')
    a1, a32, ac = rate(d1['asyncio']), rate(d32['asyncio']), rate(cn['asyncio'])
    ret, ceil32 = rate(cn['return']), rate(d32['ceiling'])
    bounds = []
    if ac and ret:
        bounds.append(
            '10× the asyncio herd\'s connection rate is %s conn/s, and nginx\'s '
            'own `return` (which reads nothing) reached %s conn/s: %s' % (
                _n(10 * ac), _n(ret),
                'no module inside nginx could meet the churn target on this '
                'machine' if 10 * ac > ret else
                'the churn target is within nginx\'s reach here'))
    if a32 and ceil32:
        bounds.append(
            '10× its pipelined rate is %s/s against the ceiling\'s %s/s%s' % (
                _n(10 * a32), _n(ceil32),
                ' (more than the ceiling: out of reach for any server on '
                'this machine)' if 10 * a32 > ceil32 else ''))
    w('The asyncio baseline is not slow where it matters most here: its '
      'per-line work is a handful of calls into C (`bytes.split`, regular '
      'expression matches, a dict lookup, a tuple compare), and with five '
      'processes it too spreads over the cores in the unpinned layout. In '
      'the pinned layout it answered %s IAMAT/s at depth 1, %s pipelined and '
      '%s connections/s. %s.' % (
          _n(a1), _n(a32), _n(ac),
          (lambda t: t[:1].upper() + t[1:])('; '.join(bounds)) if bounds else
          'The 10× targets cannot be checked without its rates'))
    w('')

    write_propagation(w, res, R, evals)

    write_places(w, res, R, evals, perf_table)

    mem = R.get('memory') or []
    if mem and evals.get('memory') is False:
        last = mem[-1]
        per = last['zone_mb'] * 1048576 / last['held']
        marg = None
        if len(mem) >= 2 and mem[-1]['held'] != mem[0]['held']:
            marg = ((mem[-1]['zone_mb'] - mem[0]['zone_mb']) * 1048576
                    / (mem[-1]['held'] - mem[0]['held']))
        w('### Memory')
        w('')
        w('The %d MiB zone held %s clients at its first eviction: %.0f bytes '
          'per client (marginal %s). A record is the tree node, the herd '
          'node header and the stored AT line; one of up to 192 bytes lives '
          'in a 192-byte cell, 21 to a 4 KiB page, a larger one in a chunk '
          'of the slab allocator (power-of-two sizes), and the zone also '
          'keeps its index (one 4-byte slot per 512 bytes of zone) and the '
          'slab\'s page descriptors. With cells alone that comes to about '
          '%.0f bytes per client; a measured figure well above it means the '
          'records of this run did not fit a cell.' % (
              last['zone_mb'], _n(last['held']), per,
              '%.0f B' % marg if marg else 'n/a',
              4096 / 21 / (1 - 4 / 512.0) + 24 / 21.0))
        w('')

    st = {(s['sut'], s['depth']): s for s in R.get('strace') or []}
    s1, s32 = st.get(('herd', 1)), st.get(('herd', 32))
    if evals.get('syscalls') is False and s1:
        c = s1['calls']
        n = s1['iamats']
        w('### System calls per IAMAT')
        w('')
        w('At depth 1 Goloman\'s worker made %.3f system calls per IAMAT: '
          '%.3f `recvfrom`, %.3f `sendto` and %.3f `epoll_wait`. One read '
          'and one write are the client\'s; the `sendto`s beyond one per '
          'IAMAT (%.3f) are the flood writes, about one per link per '
          'event-loop iteration (an iteration handles several connections, '
          'so those are shared by several IAMATs); the rest are %.3f '
          '`recvfrom` beyond one per IAMAT and the `epoll_wait`s.%s' % (
              s1['per_iamat'], c.get('recvfrom', 0) / n,
              c.get('sendto', 0) / n, c.get('epoll_wait', 0) / n,
              max(0.0, c.get('sendto', 0) / n - 1),
              max(0.0, c.get('recvfrom', 0) / n - 1),
              (' Pipelined: %.3f per IAMAT (the target is below 0.2).' %
               s32['per_iamat']) if s32 else ''))
        w('')


def write_profile(w, res, R, evals, perf_table):
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
    k1, kc = _kernel(R, 'herd-d1'), _kernel(R, 'herd-connect')
    if k1 is not None and kc is not None:
        w('At depth 1 and with a connection per command the kernel\'s '
          'symbols in the profiles below (those of at least 1 %%) add up to '
          '%s and %s of the core (the network stack: a read '
          'and a write per line, and the flood writes, or a whole TCP '
          'connection per command); the module\'s own functions are a few '
          'percent each.' % (_p(k1), _p(kc)))
        w('')

    if _perf(R, 'herd-d32'):
        lk = _share(R, 'herd-d32', 'zone_lookup')
        mc = _share(R, 'herd-d32', 'memcmp')
        up = _share(R, 'herd-d32', 'zone_update')
        mx = _share(R, 'herd-d32', 'shmtx', 'zone_lock')
        pa = _share(R, 'herd-d32', 'split', 'parse_', 'is_space', 'trim')
        kd = _kernel(R, 'herd-d32')
        hot = _perf(R, 'herd-d32').get('lookup_hot')
        if hot and ',4)' in (hot.get('previous') or ''):
            what = ('the load of the client\'s slot in the index (4-byte '
                    'entries)')
        else:
            what = 'a load from the zone'
        hot_text = ((' `perf annotate` puts %.0f %% of the lookup\'s samples '
                     'on one instruction, `%s`, right after `%s`: %s. The '
                     'lookup waits for that load; the index has one slot per '
                     '512 bytes of zone (512 KiB for each 64 MiB zone here), '
                     'read in no particular order, in each of five zones, '
                     'by five processes taking turns on one core, so the '
                     'slot is often not in the cache, and the record it points '
                     'to, whose client id the `memcmp` reads, is the second '
                     'access.' % (hot['share'], hot['instruction'],
                                  hot['previous'], what))
                    if hot else '')
        cg = {c['name']: c for c in R.get('callgrind') or []}
        c = cg.get('iamat-d32')
        lk_ins = None
        if c and c.get('commands'):
            lk_ins = _cg_fn(c, c['commands'], 'zone_lookup')
        w('In the pipelined run the zone takes %s of core 1: '
          '`ngx_stream_herd_zone_lookup` %s, `memcmp` (called only by the '
          'lookup, to compare the client id with the record\'s) %s, '
          '`ngx_stream_herd_zone_update` %s and the zone\'s mutex '
          '(`ngx_shmtx_lock`/`unlock`, a compare-and-swap each) %s. '
          'Splitting and parsing lines (`ngx_stream_herd_split`, '
          '`ngx_stream_herd_parse_*`) take %s, the kernel %s. The lookup is a '
          'hash index: it reads the client\'s slot of the index, then the '
          'record the slot points to (rarely a second one on the same chain), '
          'and a newer record that fits is rewritten in place; the red-black '
          'tree only keeps the records in order for catch-up and is not '
          'touched on this path.%s%s' % (
              _p(sum(x or 0 for x in (lk, mc, up, mx))), _p(lk), _p(mc),
              _p(up), _p(mx), _p(pa), _p(kd),
              (' Callgrind counts %.0f instructions for the lookup per '
               'IAMAT at Goloman, so its share of the time is waiting, not '
               'executing.' % lk_ins) if lk_ins else '',
              hot_text))
        w('')

    cg = {c['name']: c for c in R.get('callgrind') or []}
    c = cg.get('iamat-d32')
    if c and c.get('peer') and c.get('commands'):
        n = c['commands']
        p = c['peer']
        m = p.get('updates') or n
        parse = _cg_fn(p, m, 'split', 'parse_', 'is_space', 'trim')
        spl = _cg_fn(p, m, 'split')
        dec = _cg_fn(p, m, 'parse_decimal')
        hsh = _cg_fn(p, m, 'record_hash')
        w('Counted with callgrind (pipelined): Goloman executes %.0f '
          'user-space instructions per IAMAT (%.0f in the module), and its '
          'neighbour Hands %.0f per flood line it receives and stores (%.0f '
          'in the module): a flood line costs %s of what a client\'s IAMAT '
          'costs to answer, and there are eight of them per IAMAT. At Hands '
          'splitting and parsing (`ngx_stream_herd_split`, '
          '`ngx_stream_herd_parse_*`) take %s of the %.0f instructions per '
          'flood line (`ngx_stream_herd_split` alone %s, '
          '`ngx_stream_herd_parse_decimal` %s)%s. Those instructions work on '
          'the line just read, which is in the cache; that is why they '
          'weigh less in the time profile than the lookup\'s few.' % (
              c['total'] / n, c['module'] / n, p['total'] / m,
              p['module'] / m, _pct(p['total'] / m, c['total'] / n),
              _f(parse), p['total'] / m, _f(spl), _f(dec),
              (', and `ngx_stream_herd_record_hash` (the catch-up digest of '
               'the record, taken out for the old record and put in for the '
               'new one) %.0f' % hsh) if hsh else ''))
        w('')
    perf_table(w, R, 'herd-d1', 'Profile: herd, IAMAT depth 1 (pinned, core 1)')
    perf_table(w, R, 'herd-d32', 'Profile: herd, IAMAT pipelined (pinned, core 1)')
    perf_table(w, R, 'herd-connect', 'Profile: herd, connect-per-command (pinned, core 1)')


def write_propagation(w, res, R, evals):
    lay = {}
    for l in ('pinned', 'unpinned'):
        lay[l] = (res.last('prop-load', 'herd', l),
                  res.last('prop-idle', 'herd', l))
    if not any(p and p['p99_us'] > 1000 for p, _ in lay.values()):
        return
    w('### Propagation')
    w('')

    def desc(l):
        p, i = lay[l]
        if not p:
            return '%s: n/a' % l
        return ('%s, p99 %s (p50 %s; background IAMAT p99 %s; with no '
                'load p50 %s, p99 %s)' % (
                    l, us(p['p99_us']), us(p['p50_us']),
                    us(p.get('bg_p99_us')), us(i and i['p50_us']),
                    us(i and i['p99_us'])))

    missed = [l for l in ('pinned', 'unpinned')
              if lay[l][0] and lay[l][0]['p99_us'] > 1000]
    added = []
    for l in ('pinned', 'unpinned'):
        p, i = lay[l]
        if p and i:
            added.append('%s %s' % (
                us(max(0, p['p99_us'] - i['p99_us'])), l))
    w('With 10,000 updates/s of background load the herd\'s time from an '
      'IAMAT at Goloman to its answer at Welsh was: %s; %s. The target '
      '(p99 at most 1 ms) is missed %s. The load adds %s to the p99. Peer links set '
      '`TCP_NODELAY`, so a flood write is not held back waiting for the '
      'neighbour\'s delayed ACK; what is left is mostly waiting for a core. A '
      'probe is handled by three server processes in turn (Goloman, '
      'Holiday, Welsh: each reads the line and updates its zone, the first '
      'two also write it on) and then answered by a WHATSAT at Welsh. '
      'Pinned, all five servers share core 1 with the flooding of the '
      '10,000 background IAMATs/s (nine line-handlings each), so a hop '
      'that becomes ready while another server holds the core waits for '
      'its turn, and the probe client shares core 0 with the background '
      'load generator. Unpinned, ten nginx workers (two per server), the '
      'background load generator and the probe client share both cores and '
      'nothing keeps a hop and the load generator apart; anything else '
      'running on this VM competes in both layouts.' % (
          desc('pinned'), desc('unpinned'),
          'in both layouts' if len(missed) == 2 else
          'in the %s layout' % missed[0],
          ' and '.join(added) if added else 'n/a'))
    w('')


def write_places(w, res, R, evals, perf_table):
    fl = res.last('inflight', 'herd')
    ref = res.last('inflight-none', 'herd')
    if not fl:
        return
    if fl['p99_us'] > 2000:
        w('### IAMATs beside 1,000 WHATSATs in flight')
        w('')
        pr = _procs(R, 'herd-inflight')
        prof = _perf(R, 'herd-inflight')
        cpu_text = ''
        if pr and prof:
            g, nb, idle, other = pr
            places_syms = [(pc, sy) for pc, _, sy in prof['top']
                           if any(x in sy.lower() for x in
                                  ('curl', 'json', 'places', 'ssl', 'http'))]
            cpu_text = (
                ' Of the CPU samples on core 1 (the profile below; it counts '
                'the time processes ran, not idle time) Goloman, which runs '
                'the IAMATs and all of the Places work, had %s and the four '
                'neighbours, which only store and pass on the IAMATs\' '
                'updates, %s%s; the reference run has no profile, so this run '
                'cannot split Goloman\'s share between the IAMATs and the '
                'Places work. %s; the kernel symbols add up to %s and '
                '`epoll_wait` takes %s (%s at depth 1; Goloman\'s event loop '
                'also watches the 1,000 WHATSAT connections and the Places '
                'connections).' % (
                    _p(g), _p(nb),
                    ', other processes %s' % _p(other) if other >= 0.5 else '',
                    ('Of the Places code only %s reach 1 %% of the core' %
                     ', '.join('`%s` %.1f %%' % (sy, pc)
                               for pc, sy in places_syms))
                    if places_syms else
                    'No libcurl, JSON or Places function reaches 1 % of the '
                    'core on its own',
                    _p(_kernel(R, 'herd-inflight')),
                    _p(_share(R, 'herd-inflight', 'epoll_wait')),
                    _p(_share(R, 'herd-d1', 'epoll_wait'))))
        done = fl.get('whatsat_done')
        rounds = ''
        if done and abs(done / 1000.0 - round(done / 1000.0)) < 0.01:
            rounds = ', %d rounds of the 1,000 calls' % round(done / 1000.0)
        w('With 1,000 Places calls waiting on the slow stand-in, IAMATs on '
          'other connections of the same server had p50 %s, p90 %s, p99 %s '
          'and p99.9 %s at %s/s; the same IAMAT load with nothing in flight '
          'had p50 %s, p90 %s and p99 %s. The p50 hardly moves: the IAMATs '
          'that lose are those that arrive while the servers are busy with '
          'Places answers. A call that waits costs little (a WHATSAT looks '
          'for an identical call in flight in a tree, and a call\'s '
          'connection sits in epoll until the answer comes); the cost comes '
          'with the answers: each is a libcurl transfer to finish, a JSON '
          'parse, the result cut to the bound and put into the legacy '
          'envelope, and a reply (%s answers per second here, %s in all%s). '
          'The 1,000 calls start together and the stand-in answers each '
          'after the same 1 s, so the answers come back in bursts rather '
          'than evenly. The module handles at most 8 curl socket events per '
          'event-loop iteration, so other connections\' commands are read '
          'between them, but every server process runs on core 1: a burst '
          'of answers at Goloman delays the IAMATs behind it and the flood '
          'lines the neighbours are waiting to handle.%s Core 0 is shared '
          'too: the load generator that times the IAMATs, the one with the '
          '1,000 WHATSAT connections and the slow stand-in (a Python '
          'process answering the same bursts) all run there, '
          'and an IAMAT\'s latency includes any time its load generator '
          'waits for that core.' % (
              us(fl['p50_us']), us(fl.get('p90_us')), us(fl['p99_us']),
              us(fl.get('p999_us')), _n(fl.get('rate')),
              us(ref and ref['p50_us']), us(ref and ref.get('p90_us')),
              us(ref and ref['p99_us']),
              _n(fl.get('whatsat_rate')), _n(done), rounds, cpu_text))
        w('')
        w('For comparison, and not part of this run: measured by hand '
          'earlier today, a single server with one worker had '
          'IAMAT p99 2.4 ms with a budget of 16 curl socket events per '
          'iteration and 2.0-10 ms with 8 (the value in the code) beside '
          '1,000 WHATSATs in flight, down from 211 ms before the budget and '
          'the tree of calls in flight (commit d741152).')
        w('')
        perf_table(w, R, 'herd-inflight',
                   'Profile: herd with 1,000 WHATSATs in flight and 10,000 '
                   'IAMAT/s (pinned, core 1)')
    wc = res.last('whatsat-c50', 'herd')
    if wc:
        wa = res.last('whatsat-c50', 'asyncio') or {}
        w('### WHATSAT throughput')
        w('')
        w('50 connections asking WHATSATs as fast as they are answered got '
          '%s/s from the herd (p50 %s) and %s/s from the asyncio herd (p50 '
          '%s). During the herd\'s run %s connections to the stand-in were '
          'closed by the herd\'s side (counted in `TIME-WAIT`), %s per '
          'WHATSAT; the asyncio herd\'s: %s per WHATSAT.' % (
              _n(wc['rate']), us(wc['p50_us']), _n(wa.get('rate')),
              us(wa.get('p50_us')), _n(wc.get('places_closed') or 0),
              wc.get('closed_per_whatsat', 'n/a'),
              wa.get('closed_per_whatsat', 'n/a')))
        w('')


def us(v):
    if v is None:
        return 'n/a'
    if v >= 10000:
        return '%.0f ms' % (v / 1000)
    if v >= 1000:
        return '%.1f ms' % (v / 1000)
    return '%.0f µs' % v
