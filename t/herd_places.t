#!/usr/bin/perl

# Tests for the herd stream module: WHATSAT through Google Places
# (PROTOCOL.md sections 6 and 10) against a fake Places API served by an
# http {} server of the same nginx, with one worker process: a worker that
# blocked on its upstream call would never serve the fake, and every test
# would time out.
#
# Covered: the exact request of both API variants (method, path, query or
# body, headers), results cut to the bound, Google's legacy formatting (and
# the compact one), the New API translated to the legacy envelope, legacy
# non-OK statuses passed through, every error case (unreachable, timeout,
# HTTP errors, invalid JSON, over-size, 400/403/429 of the New API, the
# per-worker cap), coalescing of identical concurrent WHATSATs, IAMATs on
# other connections answered while a WHATSAT waits, a client gone
# mid-request, reload and stop with calls in flight, and the key absent
# from every log.

###############################################################################

use warnings;
use strict;

use Test::More;
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use Socket qw/ SOL_SOCKET SO_LINGER /;

use Test::Nginx;
use Test::Nginx::Stream qw/ stream /;
use Herd::Util;
use Herd::Proto;
use Herd::Conf;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Nginx->new()->has(qw/stream http proxy gzip/);

my $LEGACY_KEY = 'L3gacy-Key+/=test';
my $LEGACY_KEY_ESCAPED = 'L3gacy-Key%2B%2F%3Dtest';
my $NEW_KEY = 'New-Api-Key_0123456789';

my $MASK = 'places.id,places.displayName,places.location,places.types,'
	. 'places.shortFormattedAddress,places.rating,places.userRatingCount,'
	. 'places.businessStatus';

my $LOC = '+34.068930-118.445127';

# every IAMAT newer than the last: the stored location is always the last
my $tick = 0;

sub next_time {
	$tick++;
	return (1520023934 + $tick) . '.918963997';
}

###############################################################################

# Google-shaped answers of the fake

my $json_bytes = JSON::PP->new->canonical->utf8;

sub legacy_result {
	my ($i) = @_;
	return {
		business_status => 'OPERATIONAL',
		geometry => {
			location => { lat => 34.0689 + $i / 10000,
				lng => -118.4451 },
			viewport => {
				northeast => { lat => 34.07, lng => -118.44 },
				southwest => { lat => 34.06, lng => -118.45 },
			},
		},
		icon => 'https://maps.gstatic.com/mapfiles/place_api/icons/'
			. 'v1/png_71/cafe-71.png',
		name => $i == 1 ? "Caf\x{e9} & Bar 1" : "Place $i",
		opening_hours => { open_now => ($i % 2 ? JSON::PP::true
			: JSON::PP::false) },
		place_id => "ChIJlegacy$i",
		rating => 4 + $i / 10,
		types => [ 'cafe', 'food', 'point_of_interest', 'establishment' ],
		user_ratings_total => 100 + $i,
		vicinity => "$i Westwood Plaza, Los Angeles",
	};
}

my $legacy_ok = {
	html_attributions => [],
	next_page_token => 'NEXT-PAGE-TOKEN',
	results => [ map { legacy_result($_) } 1 .. 20 ],
	status => 'OK',
};

# pretty, with empty lines the reply must not keep
(my $legacy_ok_text = JSON::PP->new->canonical->utf8->pretty
	->encode($legacy_ok)) =~ s/\n/\n\n/g;

my $legacy_zero = { html_attributions => [], results => [],
	status => 'ZERO_RESULTS' };

my $legacy_denied = { error_message => 'The provided API key is invalid.',
	html_attributions => [], results => [], status => 'REQUEST_DENIED' };

my $legacy_big = { html_attributions => [],
	results => [ map { legacy_result($_) } 1 .. 10 ], status => 'OK' };

sub new_place {
	my ($i) = @_;
	my $p = {
		businessStatus => 'OPERATIONAL',
		displayName => { languageCode => 'en',
			text => $i == 1 ? "Caf\x{e9} & Bar 1" : "New Place $i" },
		id => "ChIJnew$i",
		location => { latitude => 34.0701 + $i / 10000,
			longitude => -118.4431 },
		primaryType => 'cafe',
		rating => 3 + $i / 10,
		shortFormattedAddress => "$i Bruin Walk, Los Angeles",
		types => [ 'cafe', 'food' ],
		userRatingCount => 10 * $i,
	};
	if ($i == 2) {
		# what a place may lack: no rating, no address
		delete @$p{qw/ rating userRatingCount shortFormattedAddress /};
	}
	return $p;
}

my $new_ok = { places => [ map { new_place($_) } 1 .. 20 ] };

# \u escapes in the fake's answer, decoded by cJSON
my $new_ok_text = JSON::PP->new->canonical->ascii->pretty->encode($new_ok);

sub new_error {
	my ($code, $message, $status) = @_;
	return $json_bytes->encode({ error => { code => $code,
		message => $message, status => $status } });
}

my $slow_answer = { html_attributions => [],
	results => [ legacy_result(1), legacy_result(2) ], status => 'OK' };

my $slow_new = { places => [ new_place(1), new_place(2) ] };

###############################################################################

# herd servers: name => [ port, api, url, extra directives ]

my %herd = (
	legacy     => [ 8144, 'legacy', '127.0.0.1:8140/legacy/ok' ],
	new        => [ 8145, 'new', '127.0.0.1:8140/new/ok' ],
	zero       => [ 8146, 'legacy', '127.0.0.1:8140/legacy/zero' ],
	denied     => [ 8147, 'legacy', '127.0.0.1:8140/legacy/denied' ],
	new_empty  => [ 8148, 'new', '127.0.0.1:8140/new/empty' ],
	new_400    => [ 8149, 'new', '127.0.0.1:8140/new/400' ],
	new_403    => [ 8150, 'new', '127.0.0.1:8140/new/403' ],
	new_429    => [ 8151, 'new', '127.0.0.1:8140/new/429' ],
	new_500    => [ 8152, 'new', '127.0.0.1:8140/new/500' ],
	legacy_500 => [ 8153, 'legacy', '127.0.0.1:8140/legacy/500' ],
	invalid    => [ 8154, 'legacy', '127.0.0.1:8140/legacy/invalid' ],
	new_inval  => [ 8155, 'new', '127.0.0.1:8140/new/invalid' ],
	big        => [ 8156, 'legacy', '127.0.0.1:8140/legacy/big',
		'herd_places_max_size 1k;' ],
	big_gzip   => [ 8157, 'legacy', '127.0.0.1:8140/legacy/big-gzip',
		'herd_places_max_size 1k;' ],
	closed     => [ 8158, 'legacy', '127.0.0.1:8143/closed' ],
	hole       => [ 8159, 'legacy', '127.0.0.1:8142/hole',
		'herd_places_timeout 1s;' ],
	slow       => [ 8160, 'legacy', '127.0.0.1:8140/slow' ],
	compact    => [ 8161, 'legacy', '127.0.0.1:8140/legacy/ok',
		'herd_places_format compact;' ],
	one        => [ 8162, 'legacy', '127.0.0.1:8140/slow',
		'herd_places_concurrency 1;' ],
	nokey      => [ 8163, 'legacy', '127.0.0.1:8140/legacy/ok' ],
	localhost  => [ 8164, 'legacy', 'localhost:%%PORT_8140%%/legacy/ok' ],
	new_slow   => [ 8165, 'new', '127.0.0.1:8140/slow' ],
	impatient  => [ 8166, 'legacy', '127.0.0.1:8140/slower',
		'herd_timeout 1500ms;' ],
);

my $servers = '';

for my $name (sort keys %herd) {
	my ($port, $api, $url, $extra) = @{$herd{$name}};
	my $key = $name eq 'nokey' ? ''
		: $api eq 'legacy' ? "herd_places_key \"$LEGACY_KEY\";"
		: "herd_places_key $NEW_KEY;";

	$servers .= <<"EOF";
    herd_zone zone=$name:64k;

    server {
        listen 127.0.0.1:$port;
        herd Herd_$name zone=$name;
        $key
        herd_places_api $api;
        herd_places_url http://$url;
        ${\ ($extra // '') }
    }

EOF
}

my $legacy_zero_conf = $json_bytes->encode($legacy_zero);
my $legacy_denied_conf = $json_bytes->encode($legacy_denied);
my $slow_conf = $json_bytes->encode($slow_answer);
my $slow_new_conf = $json_bytes->encode($slow_new);
my $new_400 = new_error(400, 'Invalid radius.', 'INVALID_ARGUMENT');
my $new_403 = new_error(403, 'API key not valid.', 'PERMISSION_DENIED');
my $new_429 = new_error(429, 'Quota exceeded.', 'RESOURCE_EXHAUSTED');
my $new_500 = new_error(500, 'Internal error encountered.', 'INTERNAL');

$t->write_file_expand('nginx.conf', <<"EOF");

%%TEST_GLOBALS%%

daemon off;
worker_processes 1;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    # the fake's own log, away from the herd's error log
    error_log %%TESTDIR%%/fake-error.log info;

    log_format places escape=none
        '\$request_method \$request_uri|\$http_x_goog_api_key|'
        '\$http_x_goog_fieldmask|\$http_content_type|\$request_body|\$status';

    # the fake Places API: records each request, with its body
    server {
        listen 127.0.0.1:8140;

        access_log %%TESTDIR%%/places.log places;

        # the New API's POSTs reach the files below as GETs
        location / {
            proxy_pass http://127.0.0.1:8141;
            proxy_method GET;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
        }

        # an upstream that never answers: 1 s, then an answer
        location /slow {
            proxy_pass http://127.0.0.1:8142;
            proxy_read_timeout 1s;
            error_page 504 = \@slow;
        }

        location /slower {
            proxy_pass http://127.0.0.1:8142;
            proxy_read_timeout 2s;
            error_page 504 = \@slow;
        }

        location \@slow {
            default_type application/json;

            if (\$request_method = POST) {
                return 200 '$slow_new_conf';
            }

            return 200 '$slow_conf';
        }
    }

    server {
        listen 127.0.0.1:8141;

        access_log off;
        default_type application/json;
        root %%TESTDIR%%/fake;

        gzip on;
        gzip_types application/json;
        gzip_min_length 1;

        location = /legacy/zero {
            return 200 '$legacy_zero_conf';
        }

        location = /legacy/denied {
            return 200 '$legacy_denied_conf';
        }

        location = /legacy/500 {
            return 500 '$legacy_zero_conf';
        }

        location = /legacy/invalid {
            return 200 '<html><body>Not JSON</body></html>';
        }

        # longer answers are files: fake/legacy/ok, fake/new/ok, ...

        location = /legacy/big {
            gzip off;
        }

        location = /new/empty {
            return 200 '{}';
        }

        location = /new/400 {
            return 400 '$new_400';
        }

        location = /new/403 {
            return 403 '$new_403';
        }

        location = /new/429 {
            return 429 '$new_429';
        }

        location = /new/500 {
            return 500 '$new_500';
        }

        location = /new/invalid {
            return 200 '{"places": [ {"id": "x"';
        }
    }
}

stream {
    %%TEST_GLOBALS_STREAM%%

$servers
}

EOF

mkdir $t->testdir() . "/$_" for qw/ fake fake\/legacy fake\/new /;
$t->write_file('fake/legacy/ok', $legacy_ok_text);
$t->write_file('fake/legacy/big', $json_bytes->encode($legacy_big));
$t->write_file('fake/legacy/big-gzip', $json_bytes->encode($legacy_big));
$t->write_file('fake/new/ok', $new_ok_text);

# where the slow location's requests wait: accepted by the kernel, never
# answered; a closed port for "unreachable"

my $hole = IO::Socket::INET->new(Proto => 'tcp', Listen => 64,
	LocalAddr => '127.0.0.1:' . port(8142), ReuseAddr => 1)
	or die "Can't listen on 127.0.0.1:" . port(8142) . ": $!\n";

port(8143);

$t->run()->plan(104);

###############################################################################

# Google's legacy formatting, as the module must print it: 3-space indent,
# "key" : value, members in the order given (here sorted, as the fake sends
# them and as the translation builds them), arrays of scalars on one line

my $scalar = JSON::PP->new->allow_nonref->utf8;

sub gp {
	my ($v, $depth) = @_;
	$depth //= 0;
	my $in = '   ' x $depth;

	if (ref $v eq 'HASH') {
		return '{}' unless %$v;
		return "{\n" . join(",\n", map {
			"$in   " . $scalar->encode($_) . ' : '
			. gp($v->{$_}, $depth + 1)
		} sort keys %$v) . "\n$in}";
	}

	if (ref $v eq 'ARRAY') {
		return '[]' unless @$v;
		if (!grep { ref $_ eq 'HASH' || ref $_ eq 'ARRAY' } @$v) {
			return '[ ' . join(', ', map { gp($_) } @$v) . ' ]';
		}
		return "[\n" . join(",\n", map {
			"$in   " . gp($_, $depth + 1)
		} @$v) . "\n$in]";
	}

	return $scalar->encode($v);
}

sub error_json {
	my ($status, $message) = @_;
	return gp({ error_message => $message, html_attributions => [],
		results => [], status => $status });
}

sub legacy_cut {
	my ($answer, $bound) = @_;
	my %copy = %$answer;
	$copy{results} = [ @{$answer->{results}}[0 .. $bound - 1] ];
	return \%copy;
}

sub translated {
	my ($bound) = @_;
	my @results;

	for my $p (@{$new_ok->{places}}[0 .. $bound - 1]) {
		my $r = {
			business_status => $p->{businessStatus},
			geometry => { location => {
				lat => $p->{location}{latitude},
				lng => $p->{location}{longitude} } },
			name => $p->{displayName}{text},
			place_id => $p->{id},
			types => $p->{types},
		};
		$r->{rating} = $p->{rating} if exists $p->{rating};
		$r->{user_ratings_total} = $p->{userRatingCount}
			if exists $p->{userRatingCount};
		$r->{vicinity} = $p->{shortFormattedAddress}
			if exists $p->{shortFormattedAddress};
		push @results, $r;
	}

	return { html_attributions => [], results => \@results,
		status => 'OK' };
}

sub addr {
	my ($name) = @_;
	return '127.0.0.1:' . port($herd{$name}[0]);
}

# IAMAT on a herd server, then WHATSAT; (AT line, WHATSAT reply)
sub ask {
	my ($name, $radius, $bound, %opts) = @_;
	my $loc = $opts{location} // $LOC;

	my $s = stream(addr($name));
	my $at = herd_ask($s, "IAMAT kiwi.cs.ucla.edu $loc " . next_time()
		. "\n");
	my $reply = herd_ask_reply($s, "WHATSAT kiwi.cs.ucla.edu $radius $bound\n",
		timeout => 10);

	return ($at // '', $reply // '');
}

# a connection that has told its server where a client ($opts{id},
# kiwi.cs.ucla.edu by default) is
sub client {
	my ($name, %opts) = @_;
	my $s = stream(addr($name));
	my $at = herd_ask($s, "IAMAT " . ($opts{id} // 'kiwi.cs.ucla.edu')
		. " " . ($opts{location} // $LOC) . " " . next_time() . "\n");
	return ($s, $at // '');
}

sub readable {
	my ($s) = @_;
	return 1 if defined $s->{herd_buf} && length $s->{herd_buf};
	return IO::Select->new($s->socket())->can_read(0) ? 1 : 0;
}

sub json_of {
	my ($reply) = @_;
	my (undef, $text) = split /\n/, $reply, 2;
	return eval { JSON::PP->new->utf8->decode($text // '') };
}

# the logs, read without $t: a named sub holding $t would keep it (and its
# "no alerts" tests) alive past Test::More's end-of-plan check

my $testdir = $t->testdir();

sub read_log {
	my ($name) = @_;
	open my $fh, '<', "$testdir/$name" or return '';
	local $/;
	my $text = <$fh>;
	close $fh;
	return $text // '';
}

sub places_log {
	return read_log('places.log');
}

sub log_lines {
	my ($re) = @_;
	return scalar grep { $_ =~ $re } split /\n/, places_log();
}

sub wait_places_log {
	my ($re, $n) = @_;
	for (1 .. 300) {
		return 1 if log_lines($re) >= $n;
		select undef, undef, undef, 0.05;
	}
	return 0;
}

sub error_log {
	return read_log('error.log');
}

###############################################################################

# the exact requests

my ($at, $r) = ask('legacy', 10, 5);

like($at, qr/^AT Herd_legacy \S+ kiwi\.cs\.ucla\.edu \Q$LOC\E \d+\.918963997\n\z/,
	'IAMAT answered');

my ($req) = grep { m!^GET /legacy/ok! } split /\n/, places_log();

is($req, "GET /legacy/ok?location=34.068930,-118.445127&radius=10000"
	. "&key=$LEGACY_KEY_ESCAPED|||||200",
	'legacy request: GET, location without "+", radius in metres, key');

ask('legacy', 1.5, 3, location => '+034.5-0118.25');
ok(log_lines(qr!^GET /legacy/ok\?location=34\.5,-118\.25&radius=1500&!),
	'legacy request: leading zeros dropped, fractional km');

ask('legacy', 0.001, 3, location => '-33.8670522+151.1957362');
ok(log_lines(qr!^GET /legacy/ok\?location=-33\.8670522,151\.1957362&radius=1&!),
	'legacy request: negative latitude, positive longitude, 1 metre');

ask('new', 10, 3);

($req) = grep { m!^POST /new/ok! } split /\n/, places_log();
my ($line, $key, $mask, $ctype, $body, $status) = split /\|/, $req // '', 6;

is($line, 'POST /new/ok', 'New API request: POST to the URL as configured');
is($key, $NEW_KEY, 'New API request: X-Goog-Api-Key');
is($mask, $MASK, 'New API request: X-Goog-FieldMask');
is($ctype, 'application/json', 'New API request: Content-Type');
is($body, '{"maxResultCount":3,"locationRestriction":{"circle":{"center":'
	. '{"latitude":34.068930,"longitude":-118.445127},"radius":10000}}}',
	'New API request: the JSON body');
is_deeply(eval { decode_json($body) }, { maxResultCount => 3,
	locationRestriction => { circle => { center => {
		latitude => 34.06893, longitude => -118.445127 },
		radius => 10000 } } },
	'New API request: the body parses, maxResultCount is the bound');

# legacy answers: cut to the bound, Google's formatting, no empty line

is($r, $at . gp(legacy_cut($legacy_ok, 5)) . "\n\n",
	'legacy OK: AT line, first 5 results in Google\'s format, "\n\n"');
is_deeply(json_of($r), legacy_cut($legacy_ok, 5),
	'legacy OK: the JSON parses and equals the fake\'s, cut to 5');
is(index($r, "\n\n"), length($r) - 2, 'legacy OK: no empty line before the end');
like($r, qr/}\n\n\z/, 'legacy OK: ends with "}\n\n"');
ok(!grep({ !/^(?:   )*(?:[{}\[\]]|"[^"]*" : |\S)/ } split /\n/, $r),
	'legacy OK: every line indented by multiples of 3 spaces');
like($r, qr/\n   "next_page_token" : "NEXT-PAGE-TOKEN",\n/,
	'legacy OK: other top-level members kept');
like($r, qr/"name" : "Caf\xc3\xa9 & Bar 1"/,
	'legacy OK: UTF-8 relayed as it is');
like($r, qr/"types" : \[ "cafe", "food", "point_of_interest", "establishment" \]/,
	'legacy OK: an array of strings on one line');

($at, $r) = ask('legacy', 50, 20);
is($r, $at . gp($legacy_ok) . "\n\n", 'legacy OK, bound 20: all 20 results');

($at, $r) = ask('legacy', 10, 1);
is(scalar @{(json_of($r) // {})->{results} // []}, 1,
	'legacy OK, bound 1: one result');

# compact

($at, $r) = ask('compact', 10, 2);
is($r, $at . $json_bytes->encode(legacy_cut($legacy_ok, 2)) . "\n\n",
	'herd_places_format compact: one line of JSON');

# the New API, translated

($at, $r) = ask('new', 10, 3);
is($r, $at . gp(translated(3)) . "\n\n",
	'New API: translated to the legacy envelope, cut to 3');
is_deeply(json_of($r), translated(3), 'New API: the JSON parses');
like($r, qr/"name" : "Caf\xc3\xa9 & Bar 1"/,
	'New API: \u escapes decoded to UTF-8');

($at, $r) = ask('new', 5, 20);
is_deeply(json_of($r), translated(20), 'New API: bound 20');

($at, $r) = ask('new_empty', 10, 5);
is($r, $at . gp($legacy_zero) . "\n\n", 'New API, no places: ZERO_RESULTS');

# legacy statuses other than OK: passed through

($at, $r) = ask('zero', 10, 5);
is($r, $at . gp($legacy_zero) . "\n\n", 'legacy ZERO_RESULTS passed through');

($at, $r) = ask('denied', 10, 5);
is($r, $at . gp($legacy_denied) . "\n\n",
	'legacy REQUEST_DENIED passed through with its error_message');

# New API errors

($at, $r) = ask('new_400', 10, 5);
is($r, $at . error_json('INVALID_REQUEST', 'Invalid radius.') . "\n\n",
	'New API HTTP 400: INVALID_REQUEST with Google\'s message');

($at, $r) = ask('new_403', 10, 5);
is($r, $at . error_json('REQUEST_DENIED', 'API key not valid.') . "\n\n",
	'New API HTTP 403: REQUEST_DENIED');

($at, $r) = ask('new_429', 10, 5);
is($r, $at . error_json('OVER_QUERY_LIMIT', 'Quota exceeded.') . "\n\n",
	'New API HTTP 429: OVER_QUERY_LIMIT');

($at, $r) = ask('new_500', 10, 5);
is($r, $at . error_json('UNKNOWN_ERROR', 'Internal error encountered.')
	. "\n\n", 'New API HTTP 500: UNKNOWN_ERROR');

# the herd's own errors: still the AT line and a JSON in the same envelope

($at, $r) = ask('legacy_500', 10, 5);
is($r, $at . error_json('UNKNOWN_ERROR', 'The Places API answered HTTP 500')
	. "\n\n", 'legacy HTTP 500: UNKNOWN_ERROR');
like(error_log(), qr/\[error\].*herd places: upstream call for \Q$LOC\E answered HTTP 500/,
	'legacy HTTP 500: logged');

($at, $r) = ask('invalid', 10, 5);
is($r, $at . error_json('UNKNOWN_ERROR',
	'The Places API answered invalid JSON') . "\n\n",
	'invalid JSON: UNKNOWN_ERROR');
like(error_log(), qr/\[error\].*herd places: .*invalid JSON/,
	'invalid JSON: logged');

($at, $r) = ask('new_inval', 10, 5);
is($r, $at . error_json('UNKNOWN_ERROR',
	'The Places API answered invalid JSON') . "\n\n",
	'New API, truncated JSON: UNKNOWN_ERROR');

($at, $r) = ask('big', 10, 5);
is($r, $at . error_json('UNKNOWN_ERROR',
	'The Places API answer was too large') . "\n\n",
	'answer over herd_places_max_size (Content-Length): UNKNOWN_ERROR');

($at, $r) = ask('big_gzip', 10, 5);
is($r, $at . error_json('UNKNOWN_ERROR',
	'The Places API answer was too large') . "\n\n",
	'answer over herd_places_max_size (gzip, chunked): UNKNOWN_ERROR');
like(error_log(), qr/\[error\].*larger than herd_places_max_size 1024/,
	'over-size: logged');

($at, $r) = ask('closed', 10, 5);
is($r, $at . error_json('UNKNOWN_ERROR', 'The Places API is unreachable')
	. "\n\n", 'Places unreachable: UNKNOWN_ERROR');
like(error_log(), qr/\[error\].*herd places: upstream call for \Q$LOC\E failed: .*onnect/,
	'Places unreachable: logged');

($at, $r) = ask('hole', 10, 5);
is($r, $at . error_json('UNKNOWN_ERROR',
	'The Places API did not answer in time') . "\n\n",
	'Places timed out (herd_places_timeout 1s): UNKNOWN_ERROR');
like(error_log(), qr/\[error\].*herd places: upstream call for \Q$LOC\E failed: .*[Tt]imed? ?out/,
	'Places timed out: logged');

($at, $r) = ask('nokey', 10, 5);
is($r, $at . herd_no_key_json() . "\n\n", 'no key: REQUEST_DENIED, no call');

($at, $r) = ask('localhost', 10, 2);
is($r, $at . gp(legacy_cut($legacy_ok, 2)) . "\n\n",
	'a host name in herd_places_url: resolved without blocking');

# a scripted client: one WHATSAT, half-close, read until EOF

my $raw = herd_raw(addr('legacy'), "WHATSAT kiwi.cs.ucla.edu 10 4",
	timeout => 10) // '';
like($raw, qr/^AT Herd_legacy .*\n\{\n.*\n}\n\n\z/s,
	'scripted client, no trailing newline: whole reply, then EOF');
is(scalar @{(json_of($raw) // {})->{results} // []}, 4,
	'scripted client: 4 results');

###############################################################################

# no blocking: a WHATSAT waits 1 s on the slow fake; IAMATs on other
# connections are answered meanwhile

my ($wa, $wa_at) = client('slow');
$wa->write("WHATSAT kiwi.cs.ucla.edu 10 5\n");

my ($wb, $wb_at) = client('slow', id => 'other.client', location => '+1-2');
like($wb_at, qr/^AT Herd_slow \S+ other\.client \+1-2 /,
	'another connection: IAMAT answered while a WHATSAT waits');
ok(!readable($wa), 'the WHATSAT reply is not there yet');

my $c = stream(addr('legacy'));
like(herd_ask($c, "IAMAT other.client +5-5 1600000000\n") // '',
	qr/^AT Herd_legacy /, 'another server: IAMAT answered meanwhile');

$r = herd_reply($wa, timeout => 10) // '';
is($r, $wa_at . gp($slow_answer) . "\n\n",
	'the WHATSAT reply came after the other IAMATs, complete');

# on its own connection a waiting WHATSAT holds the later replies

$wa->write("WHATSAT kiwi.cs.ucla.edu 10 5\nIAMAT late.client +1-1 1600000000\n");
$r = herd_reply($wa, timeout => 10) // '';
is($r, $wa_at . gp($slow_answer) . "\n\n",
	'same connection: the WHATSAT reply first');
like(herd_line($wa) // '', qr/^AT Herd_slow \S+ late\.client /,
	'same connection: then the IAMAT reply');

undef $wa;
undef $wb;
undef $c;

###############################################################################

# coalescing: identical WHATSATs in flight share one upstream call

my $log_at = length error_log();
my $calls = log_lines(qr!^GET /slow\?!);

my ($s0, $at0) = client('slow', location => '+10-20');
my @c = map { stream(addr('slow')) } 1 .. 5;

$_->write("WHATSAT kiwi.cs.ucla.edu 7 5\n") for @c;
my @r = map { herd_reply($_, timeout => 10) // '' } @c;

is(scalar(grep { $_ eq $at0 . gp($slow_answer) . "\n\n" } @r), 5,
	'5 identical WHATSATs: 5 complete replies');
ok(wait_places_log(qr!^GET /slow\?location=10,-20&radius=7000&!, 1),
	'the upstream call was made');
is(log_lines(qr!^GET /slow\?!) - $calls, 1,
	'5 identical WHATSATs in flight: 1 upstream call');

my $tail = substr(error_log(), $log_at);
is(scalar(() = $tail =~ /\[info\].*herd places: joined the upstream call in flight/g),
	4, 'calls avoided: logged at info, one line each');
like($tail, qr/upstream calls avoided by this worker: \d+/,
	'calls avoided: counted');

# different bounds: different calls

$calls = log_lines(qr!^GET /slow\?!);
@c = map { stream(addr('slow')) } 1 .. 2;
$c[0]->write("WHATSAT kiwi.cs.ucla.edu 7 4\n");
$c[1]->write("WHATSAT kiwi.cs.ucla.edu 7 3\n");
@r = map { herd_reply($_, timeout => 10) // '' } @c;
like($r[0], qr/\n\n\z/, 'different bound: answered');
ok(wait_places_log(qr!^GET /slow\?!, $calls + 2),
	'different bounds: one call each');

# the same question through the New API

$calls = log_lines(qr!^POST /slow!);
my ($n0) = client('new_slow');
@c = map { stream(addr('new_slow')) } 1 .. 3;
$_->write("WHATSAT kiwi.cs.ucla.edu 10 2\n") for @c;
@r = map { herd_reply($_, timeout => 10) // '' } @c;
is(scalar(grep { $_ eq $r[0] } @r), 3, 'New API: 3 identical replies');
is_deeply(json_of($r[0]), translated(2), 'New API: translated');
ok(wait_places_log(qr!^POST /slow!, $calls + 1), 'New API: the call made');
is(log_lines(qr!^POST /slow!) - $calls, 1, 'New API: 1 upstream call');

undef @c;
undef $s0;
undef $n0;

###############################################################################

# the per-worker cap on upstream calls in flight

$log_at = length error_log();

($wa, $wa_at) = client('one');
$wa->write("WHATSAT kiwi.cs.ucla.edu 10 5\n");

# the call must be in flight before the next WHATSAT
herd_wait_log($t, qr/upstream call for \Q$LOC\E, radius 10000 m, bound 5 \(legacy/,
	from => $log_at);

$wb = stream(addr('one'));
$r = herd_ask_reply($wb, "WHATSAT kiwi.cs.ucla.edu 10 6\n") // '';
is($r, $wa_at . error_json('UNKNOWN_ERROR', 'Too many Places requests in '
	. 'flight on this herd server (herd_places_concurrency), try again '
	. 'later') . "\n\n", 'herd_places_concurrency 1: a second call refused');
ok(!readable($wa), 'the refusal came before the first answer');

$r = herd_reply($wa, timeout => 10) // '';
is((json_of($r) // {})->{status}, 'OK', 'the first call answered');
like(error_log(), qr/\[error\].*herd_places_concurrency is 1/,
	'the refusal logged');

# identical: joins, is not refused
$wa->write("WHATSAT kiwi.cs.ucla.edu 10 5\n");
$wb->write("WHATSAT kiwi.cs.ucla.edu 10 5\n");
is((json_of(herd_reply($wb, timeout => 10) // '') // {})->{status}, 'OK',
	'herd_places_concurrency 1: an identical WHATSAT joins the call');
is((json_of(herd_reply($wa, timeout => 10) // '') // {})->{status}, 'OK',
	'herd_places_concurrency 1: the first one answered too');

undef $wa;
undef $wb;

###############################################################################

# a client waiting for Places is not closed by its idle timeout: here
# herd_timeout is 1.5 s and the slower fake answers after 2 s, and the
# client still gets its answer (never silence)

$log_at = length error_log();

($wa) = client('impatient', location => '+15-25');
$wa->write("WHATSAT kiwi.cs.ucla.edu 9 5\n");

$r = herd_reply($wa, timeout => 10) // '';
is((json_of($r) // {})->{status}, 'OK',
	'herd_timeout shorter than the Places wait: the client is answered');
ok(wait_places_log(qr!^GET /slower\?location=15,-25&radius=9000&.*\|200$!, 1),
	'herd_timeout shorter than the Places wait: one call, answered');
unlike(substr(error_log(), $log_at), qr/client timed out/,
	'herd_timeout shorter than the Places wait: no time-out while waiting');

# two waiting, one session gone: the other one still gets its answer

($wa) = client('impatient', location => '+16-26');
$wa->write("WHATSAT kiwi.cs.ucla.edu 9 5\n");
herd_wait_log($t, qr/upstream call for \+16-26/, from => $log_at);
$wb = stream(addr('impatient'));
$wb->write("WHATSAT kiwi.cs.ucla.edu 9 5\n");
herd_wait_log($t, qr/joined the upstream call in flight/, from => $log_at);
rst($wa);

$r = herd_reply($wb, timeout => 10) // '';
is((json_of($r) // {})->{status}, 'OK',
	'one of two waiters gone: the other answered');
unlike(substr(error_log(), $log_at), qr/\+16-26, radius 9000 m, bound 5 cancelled/,
	'one of two waiters gone: the call went on');
ok(wait_places_log(qr!^GET /slower\?location=16,-26&radius=9000&.*\|200$!, 1),
	'one of two waiters gone: one call, answered');

# a client gone mid-request (reset): the session notices at once, though
# it reads nothing while its WHATSAT waits, and the call is cancelled;
# nothing is left behind (no alert at the end)

sub rst {
	my ($s) = @_;
	setsockopt($s->socket(), SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
	$s->socket()->close();
}

$log_at = length error_log();

($wa) = client('slow', location => '+11-22');
$wa->write("WHATSAT kiwi.cs.ucla.edu 9 5\n");
herd_wait_log($t, qr/upstream call for \+11-22, radius 9000 m/,
	from => $log_at);
rst($wa);

ok(herd_wait_log($t, qr/upstream call for \+11-22, radius 9000 m, bound 5 cancelled/,
	from => $log_at), 'client reset: the call cancelled');
ok(wait_places_log(qr!^GET /slow\?location=11,-22&radius=9000&.*\|499$!, 1),
	'client reset: the fake saw the call go away');

# a client that half-closes after its WHATSAT gets the answer, then EOF

$raw = herd_raw(addr('slow'), "WHATSAT kiwi.cs.ucla.edu 6 5\n",
	timeout => 10) // '';
like($raw, qr/^AT Herd_slow .*\n\n\z/s, 'half-closed client: the reply, then EOF');

undef $wa;
undef $wb;

###############################################################################

# the key is in no log of the herd

my $logs = error_log() . read_log('access.log');

ok(index($logs, $LEGACY_KEY) < 0, 'legacy key absent from the logs');
ok(index($logs, $LEGACY_KEY_ESCAPED) < 0,
	'legacy key, escaped, absent from the logs');
ok(index($logs, $NEW_KEY) < 0, 'New API key absent from the logs');
ok(index(places_log(), $NEW_KEY) >= 0, '(the fake did receive it)');

###############################################################################

# configuration mistakes: "nginx -t" says what is wrong, never the key

sub conf_test {
	my ($t, $name, $directives) = @_;

	$t->write_file_expand($name, <<EOF);

%%TEST_GLOBALS%%

daemon off;

events {
}

stream {
    %%TEST_GLOBALS_STREAM%%

    herd_zone zone=conf:64k;

    server {
        listen 127.0.0.1:8169;
        herd Conf zone=conf;
        $directives
    }
}

EOF

	return herd_conf_test($t, $name);
}

sub failed {
	my ($re) = @_;
	return qr/\[emerg\][^\n]*$re.*test failed\n.*exit status 1\n\z/s;
}

like(conf_test($t, 'places-ok.conf', "herd_places_key k; herd_places_api "
	. "legacy; herd_places_format compact; herd_places_timeout 3s; "
	. "herd_places_connect_timeout 1s; herd_places_max_size 64k; "
	. "herd_places_concurrency 8; herd_places_proxy http://127.0.0.1:3128;"
	. " herd_places_ssl_trusted_certificate places-ok.conf;"),
	qr/test is successful.*exit status 0\n\z/s,
	'nginx -t: every herd_places_* directive accepted');

like(conf_test($t, 'places-url.conf', 'herd_places_url ftp://example.com/;'),
	failed(qr/invalid herd_places_url "ftp:\/\/example\.com\/": it must start with "http:\/\/" or "https:\/\/"/),
	'nginx -t: a URL that is not http(s) rejected');

like(conf_test($t, 'places-api.conf', 'herd_places_api old;'),
	failed(qr/invalid value "old"/), 'nginx -t: an unknown API rejected');

like(conf_test($t, 'places-conc.conf', 'herd_places_concurrency 0;'),
	failed(qr/herd_places_concurrency must be at least 1/),
	'nginx -t: herd_places_concurrency 0 rejected');

like(conf_test($t, 'places-size.conf', 'herd_places_max_size 100;'),
	failed(qr/herd_places_max_size must be at least 1024 bytes/),
	'nginx -t: a tiny herd_places_max_size rejected');

like(conf_test($t, 'places-ca.conf',
	'herd_places_ssl_trusted_certificate no-such-ca.pem;'),
	failed(qr/no-such-ca\.pem" failed/),
	'nginx -t: a missing CA file rejected');

my $out = conf_test($t, 'places-key.conf',
	"herd_places_key \"Secret\\tKey-1234\";");
like($out, failed(qr/invalid herd_places_key: it must be one word of printable ASCII characters/),
	'nginx -t: a key with white space rejected');
unlike($out, qr/Secret|Key-1234/, 'nginx -t: ... without showing the key');

$out = conf_test($t, 'places-dup.conf',
	'herd_places_key Secret-1; herd_places_key Secret-2;');
like($out, failed(qr/"herd_places_key" directive is duplicate/),
	'nginx -t: herd_places_key twice rejected');
unlike($out, qr/Secret-/, 'nginx -t: ... without showing the key');

###############################################################################

# reload with a call in flight: the old worker answers it

($wa, $wa_at) = client('slow', location => '+13-24');
$wa->write("WHATSAT kiwi.cs.ucla.edu 10 5\n");
herd_wait_log($t, qr/upstream call for \+13-24/, from => $log_at);

ok(herd_reload($t), 'reload with a call in flight');

$r = herd_reply($wa, timeout => 10) // '';
is($r, $wa_at . gp($slow_answer) . "\n\n",
	'reload: the call in flight answered by the old worker');

($at, $r) = ask('legacy', 10, 5);
is($r, $at . gp(legacy_cut($legacy_ok, 5)) . "\n\n",
	'reload: the new worker asks Places');

undef $wa;

###############################################################################

# stop with calls in flight: every client gets its answer, no alert
# (the harness checks error.log for [alert] at the end)

$log_at = length error_log();

my @w;
for my $i (1 .. 3) {
	my ($s, $s_at) = client('slow', id => "stop$i", location => "+14-2$i");
	$s->write("WHATSAT stop$i 10 5\n");
	herd_half_close($s);
	push @w, [ $s, $s_at ];
}

herd_wait_log($t, qr/upstream call for \+14-23/, from => $log_at);

$t->stop();

for my $i (0 .. 2) {
	my ($data, $eof) = herd_read_eof($w[$i][0], timeout => 5);
	like($data, qr/^\Q$w[$i][1]\E\{.*}\n\n\z/s,
		"stopped with call " . ($i + 1) . " in flight: a whole reply");
}

like(error_log(), qr/herd places: this worker made \d+ upstream calls and avoided \d+/,
	'worker exit: calls made and avoided logged');

undef @w;

###############################################################################

# two workers, each with its own multi handle: every WHATSAT answered,
# whichever worker took its connection

my $t2 = Test::Nginx->new()->write_file_expand('nginx.conf', <<"EOF");

%%TEST_GLOBALS%%

daemon off;
worker_processes 2;

events {
}

http {
    %%TEST_GLOBALS_HTTP%%

    error_log %%TESTDIR%%/fake-error.log info;

    server {
        listen 127.0.0.1:8167;
        default_type application/json;
        return 200 '$slow_conf';
    }
}

stream {
    %%TEST_GLOBALS_STREAM%%

    herd_zone zone=two:64k;

    server {
        listen 127.0.0.1:8168;
        herd Two zone=two;
        herd_places_key "$LEGACY_KEY";
        herd_places_api legacy;
        herd_places_url http://127.0.0.1:8167/nearby;
    }
}

EOF

$t2->run();

my @two = map {
	my $s = stream('127.0.0.1:' . port(8168));
	$s->write("IAMAT two$_ +$_-$_ " . next_time() . "\nWHATSAT two$_ 1 1\n");
	$s;
} 1 .. 10;

is(scalar(grep {
	my $at = herd_line($_, timeout => 10) // '';
	(herd_reply($_, timeout => 10) // '')
		eq $at . gp(legacy_cut($slow_answer, 1)) . "\n\n"
} @two), 10, 'two workers: 10 WHATSATs on 10 connections answered');

undef @two;

$t2->stop();

###############################################################################
