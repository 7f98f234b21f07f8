#!/usr/bin/python3
"""A Places stand-in that takes its time: answers every HTTP request, after
--delay seconds, with the same sample Nearby Search (New) answer as
conf/places-standin.conf (five made-up places), on keep-alive connections.

    slow_places.py --port 12231 --delay 1.0

Used by bench/run.py for "1,000 WHATSATs in flight on a stand-in that waits
1 s": it holds any number of requests at once (asyncio, one task per
connection) and costs next to nothing while they wait.  Python 3 stdlib
only.  Not Google, not a general HTTP server: GET/POST with Content-Length
bodies only.
"""

import argparse
import asyncio
import json

PLACES = {'places': [
    {'businessStatus': 'OPERATIONAL',
     'displayName': {'languageCode': 'en', 'text': 'Bruin Coffee (sample)'},
     'id': 'STANDIN-1',
     'location': {'latitude': 34.0702, 'longitude': -118.4441},
     'rating': 4.4, 'shortFormattedAddress': '10 Westwood Plaza, Los Angeles',
     'types': ['cafe', 'food', 'point_of_interest', 'establishment'],
     'userRatingCount': 812},
    {'businessStatus': 'OPERATIONAL',
     'displayName': {'languageCode': 'en',
                     'text': 'Westwood Noodle House (sample)'},
     'id': 'STANDIN-2',
     'location': {'latitude': 34.0631, 'longitude': -118.4475},
     'rating': 4.2, 'shortFormattedAddress': '1052 Gayley Ave, Los Angeles',
     'types': ['restaurant', 'food', 'point_of_interest', 'establishment'],
     'userRatingCount': 1290},
    {'businessStatus': 'OPERATIONAL',
     'displayName': {'languageCode': 'en', 'text': 'Royce Books (sample)'},
     'id': 'STANDIN-3',
     'location': {'latitude': 34.0729, 'longitude': -118.4422},
     'rating': 4.7,
     'shortFormattedAddress': '310 Charles E Young Dr, Los Angeles',
     'types': ['book_store', 'store', 'point_of_interest', 'establishment'],
     'userRatingCount': 356},
    {'businessStatus': 'OPERATIONAL',
     'displayName': {'languageCode': 'en', 'text': 'Sunset Park Gym (sample)'},
     'id': 'STANDIN-4',
     'location': {'latitude': 34.0765, 'longitude': -118.4455},
     'rating': 4.0, 'shortFormattedAddress': '500 Sunset Blvd, Los Angeles',
     'types': ['gym', 'health', 'point_of_interest', 'establishment'],
     'userRatingCount': 97},
    {'businessStatus': 'OPERATIONAL',
     'displayName': {'languageCode': 'en', 'text': 'Gayley Market (sample)'},
     'id': 'STANDIN-5',
     'location': {'latitude': 34.0619, 'longitude': -118.4468},
     'rating': 3.9, 'shortFormattedAddress': '1100 Gayley Ave, Los Angeles',
     'types': ['grocery_or_supermarket', 'food', 'store',
               'point_of_interest', 'establishment'],
     'userRatingCount': 441},
]}

BODY = json.dumps(PLACES).encode()
RESPONSE = (b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n'
            b'Content-Length: %d\r\nConnection: keep-alive\r\n\r\n'
            % len(BODY)) + BODY


async def handle(reader, writer, delay):
    try:
        while True:
            head = await reader.readuntil(b'\r\n\r\n')
            length = 0
            for line in head.split(b'\r\n'):
                if line.lower().startswith(b'content-length:'):
                    length = int(line.split(b':', 1)[1])
            if length:
                await reader.readexactly(length)
            await asyncio.sleep(delay)
            writer.write(RESPONSE)
            await writer.drain()
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError,
            ConnectionError, ValueError):
        pass
    finally:
        writer.close()


async def main(args):
    srv = await asyncio.start_server(
        lambda r, w: handle(r, w, args.delay), '127.0.0.1', args.port,
        backlog=4096, reuse_address=True)
    async with srv:
        await srv.serve_forever()


if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--port', type=int, default=12231)
    ap.add_argument('--delay', type=float, default=1.0)
    try:
        asyncio.run(main(ap.parse_args()))
    except KeyboardInterrupt:
        pass
