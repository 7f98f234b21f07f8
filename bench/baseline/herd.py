#!/usr/bin/python3
"""The asyncio baseline: one herd server written the way the seed paper
(/work/shared/seed) recommends, Python 3 + asyncio streams + aiohttp, done
competently, so that the benchmarks compare herd with the best honest
version of that design, not with a strawman.

    herd.py --name Goloman --port 12210 \
            --peer Hands=127.0.0.1:12211 --peer Holiday=127.0.0.1:12212 ...
            [--places-url URL --places-key KEY [--places-api new|legacy]]
            [--log FILE] [--log-level info|warning]

What it does (PROTOCOL.md):

- asyncio streams (start_server / open_connection), persistent client
  connections, any number of lines per connection, replies in order;
- reads whatever has arrived (up to 64 KiB) at once, answers every complete
  line in it and writes all the replies with one write: pipelined clients
  cost one read and one write per batch, as in herd;
- IAMAT: exact integer client times (seconds and nanoseconds, never a
  float), update-if-newer in a dict, the AT line stored as bytes, the time
  difference from time.time_ns() taken when the bytes were read;
- flooding: one persistent connection per neighbour ("HERD <name>" then AT
  lines), reconnected with capped exponential backoff and jitter; updates
  queued in one event-loop iteration leave in one write; a neighbour that
  is down misses them (as the original assignment allowed: no catch-up);
  at most 16 MiB may wait for a slow neighbour, further updates to it are
  dropped with a warning;
- WHATSAT: Places Nearby Search (New API by default, translated into the
  legacy envelope, or the legacy API) through one aiohttp ClientSession
  with keep-alive connections, at most --places-concurrency in flight,
  results cut to the bound, Google's pretty JSON layout; errors become an
  UNKNOWN_ERROR JSON; no key: REQUEST_DENIED at once;
- logging as the assignment asks (every line in and out at INFO, links at
  INFO, problems at WARNING); the level decides what is written, exactly
  like the nginx error_log level in the herd's configurations.

Not done, because the original did not require it and herd's own
additions are not what this baseline is about: catch-up after a restart,
peer authentication, coalescing identical Places calls.
"""

import argparse
import asyncio
import json
import logging
import random
import re
import socket
import sys
import time

try:
    import aiohttp
except ImportError:                      # WHATSAT with Places needs it
    aiohttp = None


LOC_RE = re.compile(rb'^([+-])(\d+)(?:\.(\d+))?([+-])(\d+)(?:\.(\d+))?$')
TIME_RE = re.compile(rb'^(\d{1,18})(?:\.(\d{1,9}))?$')
RADIUS_RE = re.compile(rb'^(\d+)(?:\.(\d+))?$')
BOUND_RE = re.compile(rb'^\d{1,2}$')

MAX_LINE = 4096
LINK_MAX_QUEUED = 16 * 1024 * 1024

FIELD_MASK = ('places.id,places.displayName,places.location,places.types,'
              'places.shortFormattedAddress,places.rating,'
              'places.userRatingCount,places.businessStatus')

log = logging.getLogger('herd')


def parse_time(b):
    """b'1520023934.918963997' -> (1520023934, 918963997), or None."""
    m = TIME_RE.match(b)
    if m is None:
        return None
    frac = m.group(2) or b''
    return int(m.group(1)), int(frac.ljust(9, b'0')) if frac else 0


def within(int_part, frac, limit):
    """Exact |value| <= limit for a DIGITS[.DIGITS] number."""
    v = int(int_part)
    if v != limit:
        return v < limit
    return frac is None or frac.strip(b'0') == b''


def valid_location(b):
    m = LOC_RE.match(b)
    if m is None:
        return None
    if not within(m.group(2), m.group(3), 90):
        return None
    if not within(m.group(5), m.group(6), 180):
        return None
    return m


def format_diff(ns):
    sign = b'+' if ns >= 0 else b'-'
    ns = abs(ns)
    return b'%s%d.%09d' % (sign, ns // 1000000000, ns % 1000000000)


def pretty(obj):
    text = json.dumps(obj, indent=3, separators=(',', ' : '),
                      ensure_ascii=False)
    text = re.sub(r'\n{2,}', '\n', text).rstrip('\n')
    return text.encode()


def error_json(status, message):
    return pretty({'error_message': message, 'html_attributions': [],
                   'results': [], 'status': status})


NO_KEY = error_json('REQUEST_DENIED',
                    'No Places API key is configured on this herd server')


class Link:
    """This server's persistent connection to one neighbour."""

    def __init__(self, server, name, host, port):
        self.server = server
        self.name = name
        self.host = host
        self.port = port
        self.writer = None
        self.pending = []
        self.scheduled = False
        self.dropped = 0

    async def run(self):
        backoff = 0.1
        while True:
            try:
                reader, writer = await asyncio.open_connection(
                    self.host, self.port)
            except OSError as e:
                if self.server.info:
                    log.info('link to %s: connect failed: %s', self.name, e)
            else:
                writer.write(b'HERD %s\n' % self.server.name)
                self.writer = writer
                backoff = 0.1
                log.info('link to %s up', self.name)
                try:
                    while await reader.read(65536):
                        pass                     # the neighbour sends nothing
                except OSError:
                    pass
                self.writer = None
                self.pending.clear()
                writer.close()
                log.info('link to %s down', self.name)
            await asyncio.sleep(backoff * random.uniform(0.75, 1.25))
            backoff = min(backoff * 2, 5.0)

    def send(self, data):
        if self.writer is None:
            return
        if self.writer.transport.get_write_buffer_size() > LINK_MAX_QUEUED:
            self.dropped += 1
            if self.dropped & (self.dropped - 1) == 0:
                log.warning('link to %s: %d MiB queued, dropped %d updates',
                            self.name, LINK_MAX_QUEUED >> 20, self.dropped)
            return
        self.pending.append(data)
        if not self.scheduled:
            self.scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self):
        self.scheduled = False
        if self.writer is not None and self.pending:
            self.writer.write(b''.join(self.pending))
        self.pending.clear()


class Server:

    def __init__(self, args):
        self.name = args.name.encode()
        self.port = args.port
        self.records = {}                 # client id -> (sec, nsec, AT line)
        self.links = {}
        self.peer_names = set()
        for spec in args.peer:
            name, addr = spec.split('=', 1)
            host, port = addr.rsplit(':', 1)
            self.peer_names.add(name.encode())
            self.links[name.encode()] = Link(self, name.encode(), host,
                                             int(port))
        self.places_url = args.places_url
        self.places_key = args.places_key
        self.places_api = args.places_api
        self.places_limit = args.places_concurrency
        self.session = None
        self.info = log.isEnabledFor(logging.INFO)

    # -- the location table ---------------------------------------------

    def update(self, client, t, line, origin):
        old = self.records.get(client)
        if old is not None and (old[0], old[1]) >= t:
            return False
        self.records[client] = (t[0], t[1], line)
        for name, link in self.links.items():
            if name != origin:
                link.send(line + b'\n')
        return True

    # -- client lines ----------------------------------------------------

    def iamat(self, f, received):
        if len(f) != 4 or valid_location(f[2]) is None:
            return None
        t = parse_time(f[3])
        if t is None:
            return None
        diff = received - (t[0] * 1000000000 + t[1])
        line = b'AT %s %s %s %s %s' % (self.name, format_diff(diff), f[1],
                                       f[2], f[3])
        self.update(f[1], t, line, None)
        return line + b'\n'

    def whatsat_check(self, f):
        if len(f) != 4:
            return None
        m = RADIUS_RE.match(f[2])
        if m is None or not BOUND_RE.match(f[3]):
            return None
        radius = float(f[2])
        bound = int(f[3])
        if not (0 < radius <= 50) or not (1 <= bound <= 20):
            return None
        rec = self.records.get(f[1])
        if rec is None:
            return None
        return rec[2], max(1, int(round(radius * 1000))), bound

    async def places(self, at_line, radius_m, bound):
        loc = valid_location(at_line.split()[4])
        lat = float(loc.group(1) + loc.group(2) + b'.' + (loc.group(3) or b'0'))
        lng = float(loc.group(4) + loc.group(5) + b'.' + (loc.group(6) or b'0'))
        if self.session is None:
            self.session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.places_limit),
                timeout=aiohttp.ClientTimeout(total=10, connect=5))
        try:
            if self.places_api == 'legacy':
                params = {'location': '%r,%r' % (lat, lng),
                          'radius': str(radius_m), 'key': self.places_key}
                async with self.session.get(self.places_url,
                                            params=params) as r:
                    if r.status != 200:
                        return error_json('UNKNOWN_ERROR',
                                          'The Places API answered HTTP %d'
                                          % r.status)
                    data = await r.json(content_type=None)
                if not isinstance(data, dict) or 'status' not in data:
                    raise ValueError('no status')
                if isinstance(data.get('results'), list):
                    data['results'] = data['results'][:bound]
                return pretty(data)

            body = {'maxResultCount': bound,
                    'locationRestriction': {'circle': {
                        'center': {'latitude': lat, 'longitude': lng},
                        'radius': radius_m}}}
            headers = {'X-Goog-Api-Key': self.places_key,
                       'X-Goog-FieldMask': FIELD_MASK}
            async with self.session.post(self.places_url, json=body,
                                         headers=headers) as r:
                data = await r.json(content_type=None)
                status = r.status
            if status != 200:
                msg = (data.get('error', {}).get('message')
                       if isinstance(data, dict) else None)
                name = {400: 'INVALID_REQUEST', 403: 'REQUEST_DENIED',
                        429: 'OVER_QUERY_LIMIT'}.get(status, 'UNKNOWN_ERROR')
                return error_json(name, msg or 'HTTP %d' % status)
            results = []
            for p in data.get('places', [])[:bound]:
                q = {}
                if 'businessStatus' in p:
                    q['business_status'] = p['businessStatus']
                if 'location' in p:
                    q['geometry'] = {'location': {
                        'lat': p['location'].get('latitude'),
                        'lng': p['location'].get('longitude')}}
                if 'displayName' in p:
                    q['name'] = p['displayName'].get('text')
                if 'id' in p:
                    q['place_id'] = p['id']
                for k, v in (('rating', 'rating'), ('types', 'types'),
                             ('userRatingCount', 'user_ratings_total'),
                             ('shortFormattedAddress', 'vicinity')):
                    if k in p:
                        q[v] = p[k]
                results.append(q)
            return pretty({'html_attributions': [], 'results': results,
                           'status': 'OK' if results else 'ZERO_RESULTS'})
        except asyncio.TimeoutError:
            log.error('places: timed out')
            return error_json('UNKNOWN_ERROR',
                              'The Places API did not answer in time')
        except (aiohttp.ClientError, OSError) as e:
            log.error('places: %s', e)
            return error_json('UNKNOWN_ERROR', 'The Places API is unreachable')
        except (ValueError, AttributeError, TypeError) as e:
            log.error('places: invalid answer: %s', e)
            return error_json('UNKNOWN_ERROR',
                              'The Places API answered invalid JSON')

    # -- peer lines ------------------------------------------------------

    def peer_line(self, line, origin):
        f = line.split()
        if not f:
            return
        if len(f) != 6 or f[0] != b'AT':
            log.warning('invalid update from peer %s', origin.decode())
            return
        t = parse_time(f[5])
        if t is None:
            log.warning('invalid update from peer %s', origin.decode())
            return
        stored = self.update(f[3], t, b' '.join(f), origin)
        if self.info:
            log.info('update from peer %s %s %r', origin.decode(),
                     'stored' if stored else 'not newer', line)

    # -- connections -----------------------------------------------------

    async def handle(self, reader, writer):
        info = self.info
        peer = None
        buf = b''
        discard = False
        try:
            while True:
                data = await reader.read(65536)
                received = time.time_ns()
                eof = not data
                if eof:
                    lines = [buf] if buf.strip() and not discard else []
                    buf = b''
                else:
                    buf += data
                    lines = buf.split(b'\n')
                    buf = lines.pop()
                    if discard:                   # the rest of a long line
                        if lines:
                            lines.pop(0)
                            discard = False
                        else:
                            buf = b''
                    if not discard and len(buf) > MAX_LINE:
                        lines.append(None)        # an over-long line
                out = []
                for line in lines:
                    if peer is not None:
                        self.peer_line(line, peer)
                        continue
                    if line is None:
                        out.append(b'? %s...\n' % buf.lstrip()[:64])
                        buf = b''
                        discard = True
                        continue
                    f = line.split()
                    if not f:
                        continue
                    if info:
                        log.info('recv %r', line.strip())
                    cmd = f[0]
                    reply = None
                    if cmd == b'IAMAT':
                        reply = self.iamat(f, received)
                    elif cmd == b'WHATSAT':
                        w = self.whatsat_check(f)
                        if w is not None:
                            if not self.places_key:
                                body = NO_KEY
                            else:
                                if out:
                                    writer.write(b''.join(out))
                                    out = []
                                body = await self.places(*w)
                            reply = w[0] + b'\n' + body + b'\n\n'
                    elif (cmd == b'HERD' and len(f) == 2
                          and f[1] in self.peer_names):
                        peer = f[1]
                        log.info('peer %s connected', peer.decode())
                        continue
                    if reply is None:
                        reply = b'? %s\n' % line.strip()
                    if info:
                        log.info('send %r', reply.rstrip(b'\n'))
                    out.append(reply)
                if out:
                    writer.write(b''.join(out))
                    await writer.drain()
                if eof:
                    break
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()


async def main(args):
    server = Server(args)
    srv = await asyncio.start_server(server.handle, '127.0.0.1', args.port,
                                     backlog=4096, reuse_address=True)
    for link in server.links.values():
        asyncio.get_running_loop().create_task(link.run())
    log.info('herd %s listening on 127.0.0.1:%d', args.name, args.port)
    async with srv:
        await srv.serve_forever()


if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--name', required=True)
    ap.add_argument('--port', type=int, required=True)
    ap.add_argument('--peer', action='append', default=[])
    ap.add_argument('--places-url')
    ap.add_argument('--places-key')
    ap.add_argument('--places-api', default='new')
    ap.add_argument('--places-concurrency', type=int, default=64)
    ap.add_argument('--log')
    ap.add_argument('--log-level', default='info')
    args = ap.parse_args()
    logging.basicConfig(filename=args.log,
                        level=getattr(logging, args.log_level.upper()),
                        format='%(asctime)s %(levelname)s %(message)s')
    try:
        asyncio.run(main(args))
    except KeyboardInterrupt:
        pass
