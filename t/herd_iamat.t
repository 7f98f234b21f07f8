#!/usr/bin/perl

# Tests for the herd stream module: IAMAT and its AT reply (PROTOCOL.md
# sections 3, 4, 7 and 12): the AT line, the time diff, which record the
# server keeps, and what is invalid.

###############################################################################

use warnings;
use strict;

use Test::More;
use Math::BigInt;
use Time::HiRes qw//;

use Test::Nginx;
use Test::Nginx::Stream qw/ stream /;
use Herd::Util;
use Herd::Proto;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Nginx->new()->has(qw/stream/)
	->write_file_expand('nginx.conf', <<'EOF');

%%TEST_GLOBALS%%

daemon off;
worker_processes 2;

events {
}

stream {
    %%TEST_GLOBALS_STREAM%%

    herd_zone zone=hands:1m;
    herd_zone zone=goloman:1m;

    server {
        listen 127.0.0.1:8080;
        herd Hands zone=hands;
    }

    server {
        listen 127.0.0.1:8081;
        herd Goloman zone=goloman;
    }
}

EOF

my @valid_locations = (
	'+34.06893-118.445127',
	'+34.068930-118.445127',
	'+90-180',
	'-90.000+180.0',
	'+12-118',
	'+0+0',
	'-0.0-0.0',
	'+90.000000-180.000000000000',
	'-89.999999999+179.999999999',
	'+1.5-2.25',
	'+34.0689301234567890123-118.4451271234567890',
);

my @invalid_locations = (
	'+91+0',
	'+90.1+0',
	'+90.0000001+0',
	'-90.5+0',
	'+0+180.5',
	'+0-181',
	'+0+180.000001',
	'+1000-118',
	'34-118',
	'34.068930-118.445127',
	'+34.-118',
	'+34-118.',
	'+34',
	'+34+',
	'+-118',
	'++34-118',
	'+34--118',
	'+.5-118',
	'+34-.5',
	'+3a-118',
	'+34-118x',
	'+34,5-118',
	'+34.5.6-118',
	'+34-118-5',
	'abc',
	'+',
);

my @invalid_times = (
	'-5',
	'+1600000000',
	'-1600000000.5',
	'1e9',
	'1.',
	'.5',
	'1600000000.1234567890',
	'1234567890123456789',
	'1600000000.5.5',
	'1600000000,5',
	'1600000000.5x',
	'0x10',
	'abc',
);

my @wrong_fields = (
	'IAMAT',
	'IAMAT fc.example',
	'IAMAT fc.example +12-118',
	'IAMAT fc.example +12-118 1600000000 extra',
	'IAMAT fc.example +12-118 1600000000 a b c d e f g',
	'iamat fc.example +12-118 1600000000',
	'Iamat fc.example +12-118 1600000000',
	'IAMATX fc.example +12-118 1600000000',
);

$t->run()->plan(39 + @valid_locations + @invalid_locations
	+ @invalid_times + @wrong_fields);

###############################################################################

my $hands = '127.0.0.1:' . port(8080);
my $goloman = '127.0.0.1:' . port(8081);

my $slack = Math::BigInt->new(3_000_000_000);	# ns

# an IAMAT on connection $s; returns (reply, diff, receipt bounds in ns)
sub iamat {
	my ($s, $id, $loc, $time) = @_;

	my $before = herd_now_ns();
	my $reply = herd_ask($s, "IAMAT $id $loc $time\n");
	my $after = herd_now_ns();

	my ($diff) = defined $reply
		? $reply =~ /^AT \S+ (\S+) / : ();

	return ($reply, $diff, $before, $after);
}

# diff + client time is the receipt time, within a few seconds of when the
# test sent and received
sub diff_close {
	my ($diff, $time, $before, $after) = @_;

	return 0 unless defined $diff && $diff =~ /^[+-]\d+\.\d{9}\z/;

	my $receipt = herd_ns($diff) + herd_ns($time);

	return $receipt >= $before - $slack && $receipt <= $after + $slack;
}

# the stored AT line for a client, as a WHATSAT reply's first line
sub stored {
	my ($s, $id) = @_;
	my $reply = herd_ask_reply($s, "WHATSAT $id 10 5\n");
	return undef unless defined $reply;
	return $reply =~ /^(AT [^\n]*\n)/ ? $1 : $reply;
}

my ($s, $w, $r, $diff, $before, $after);

# PROTOCOL.md section 12, with Hands as the only server

my $kiwi = herd_raw($hands, "IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 "
	. "1520023934.918963997\n");
like($kiwi, qr/^AT Hands \+\d+\.\d{9} kiwi\.cs\.ucla\.edu \+34\.068930-118\.445127 1520023934\.918963997\n\z/,
	'section 12: IAMAT answered with one AT line naming Hands');

is(herd_raw($hands, "WHATSAT kiwi.cs.ucla.edu 10 5\n"),
	$kiwi . herd_no_key_json() . "\n\n",
	'section 12: WHATSAT answered with the same AT line and JSON');

is(herd_raw($hands, "WHATSAT kiwi.cs.ucla.edu 51 5\n"),
	"? WHATSAT kiwi.cs.ucla.edu 51 5\n",
	'section 12: WHATSAT with radius 51 is invalid');

like(herd_raw($hands, "   IAMAT  a.b  +1.5-2.25   1600000000.5   \n"),
	qr/^AT Hands \+\d+\.\d{9} a\.b \+1\.5-2\.25 1600000000\.5\n\z/,
	'section 12: IAMAT with extra spaces answered, fields verbatim');

is(herd_raw($hands, "WHATSAT nobody.example 10 5\n"),
	"? WHATSAT nobody.example 10 5\n",
	'section 12: WHATSAT for an unknown client is invalid');

# the graders' strings: no trailing newline, then half-close

is(herd_raw($hands, 'IAMAT Clark +12-118'), "? IAMAT Clark +12-118\n",
	'grader: "IAMAT Clark +12-118" without newline is invalid');

is(herd_raw($hands, 'IAMAT Clark +12-118 160000 123'),
	"? IAMAT Clark +12-118 160000 123\n",
	'grader: "IAMAT Clark +12-118 160000 123" without newline is invalid');

is(herd_raw($hands, 'AS Clark +0.25 testuser +12-118 1234'),
	"? AS Clark +0.25 testuser +12-118 1234\n",
	'grader: "AS Clark +0.25 testuser +12-118 1234" without newline '
	. 'is invalid');

# each server answers with its own name

like(herd_raw($goloman, "IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 "
	. "1520023934.918963997\n"),
	qr/^AT Goloman \+\d+\.\d{9} kiwi\.cs\.ucla\.edu /,
	'another herd server answers with its own name');

# the time diff

$s = stream($hands);

my $now = int(Time::HiRes::time());

($r, $diff, $before, $after) = iamat($s, 'past.example', '+12-118',
	$now - 1000);
like($diff, qr/^\+\d+\.\d{9}\z/,
	'client time 1000 s in the past: positive diff, 9 fraction digits');
ok(diff_close($diff, $now - 1000, $before, $after),
	'client time 1000 s in the past: diff is receipt minus client time')
	or diag("diff $diff");

($r, $diff, $before, $after) = iamat($s, 'future.example', '+12-118',
	($now + 1000) . '.25');
like($diff, qr/^-\d+\.\d{9}\z/,
	'client time 1000 s in the future: negative diff, 9 fraction digits');
ok(diff_close($diff, ($now + 1000) . '.25', $before, $after),
	'client time 1000 s in the future: diff is receipt minus client time')
	or diag("diff $diff");

($r, $diff, $before, $after) = iamat($s, 'skew.example', '+12-118',
	($now + 2) . '.999999999');
like($diff, qr/^[+-]\d+\.\d{9}\z/,
	'client time seconds ahead: a single sign, never "--" or "+-"');
ok(diff_close($diff, ($now + 2) . '.999999999', $before, $after),
	'client time seconds ahead: diff is receipt minus client time')
	or diag("diff $diff");

($r, $diff, $before, $after) = iamat($s, 'epoch.example', '+12-118', '0');
like($r, qr/^AT Hands \+\d{10}\.\d{9} epoch\.example \+12-118 0\n\z/,
	'client time 0: AT line with the whole epoch as diff');
ok(diff_close($diff, '0', $before, $after),
	'client time 0: diff is the receipt time')
	or diag("diff $diff");

($r, $diff, $before, $after) = iamat($s, 'far.example', '+12-118',
	'999999999999999999.999999999');
like($r, qr/^AT Hands -99999999\d{10}\.\d{9} far\.example \+12-118 999999999999999999\.999999999\n\z/,
	'client time with 18 integer digits: exact negative diff');
ok(diff_close($diff, '999999999999999999.999999999', $before, $after),
	'client time with 18 integer digits: diff is receipt minus client time')
	or diag("diff $diff");

($r, $diff, $before, $after) = iamat($s, 'half.example', '+12-118',
	'1600000000.5');
like($r, qr/^AT Hands \+\d+\.\d{9} half\.example \+12-118 1600000000\.5\n\z/,
	'client time with one fraction digit is echoed as sent');
ok(diff_close($diff, '1600000000.5', $before, $after),
	'client time with one fraction digit: diff is receipt minus client time')
	or diag("diff $diff");

($r, $diff, $before, $after) = iamat($s, 'whole.example', '+12-118',
	'1600000000');
like($r, qr/^AT Hands \+\d+\.\d{9} whole\.example \+12-118 1600000000\n\z/,
	'client time without fraction is echoed as sent');

($r, $diff, $before, $after) = iamat($s, 'zeros.example', '+12-118',
	'01600000000.500');
like($r, qr/^AT Hands \+\d+\.\d{9} zeros\.example \+12-118 01600000000\.500\n\z/,
	'client time with leading and trailing zeros is echoed as sent');
ok(diff_close($diff, '1600000000.5', $before, $after),
	'client time with leading and trailing zeros: diff as for the value')
	or diag("diff $diff");

# client ids are opaque bytes

like(herd_ask($s, "IAMAT \xc3\xa9t\xc3\xa9.example +12-118 1600000000\n"),
	qr/^AT Hands \+\d+\.\d{9} \xc3\xa9t\xc3\xa9\.example \+12-118 1600000000\n\z/,
	'UTF-8 client id echoed byte for byte');

like(herd_ask($s, "IAMAT a\"b\\c{}[]\x01\x00\xff +12-118 1600000000\n"),
	qr/^AT Hands \+\d+\.\d{9} a"b\\c\{\}\[\]\x01\x00\xff \+12-118 1600000000\n\z/,
	'client id with quotes, backslash and binary bytes echoed verbatim');

# locations

for my $loc (@valid_locations) {
	like(herd_ask($s, "IAMAT loc.example $loc 1600000000\n"),
		qr/^AT Hands \+\d+\.\d{9} loc\.example \Q$loc\E 1600000000\n\z/,
		"location $loc accepted and echoed verbatim");
}

for my $loc (@invalid_locations) {
	is(herd_ask($s, "IAMAT loc.example $loc 1600000000\n"),
		"? IAMAT loc.example $loc 1600000000\n",
		"location $loc is invalid");
}

# client times

for my $time (@invalid_times) {
	is(herd_ask($s, "IAMAT time.example +12-118 $time\n"),
		"? IAMAT time.example +12-118 $time\n",
		"client time $time is invalid");
}

# field counts and the command word

for my $line (@wrong_fields) {
	is(herd_ask($s, "$line\n"), "? $line\n", "\"$line\" is invalid");
}

# which record is kept: the newest client time, compared to the nanosecond;
# WHATSATs on a second connection (possibly another worker) see it

$w = stream($hands);

my $a997 = herd_ask($s, "IAMAT ns.example +1-1 1520023934.918963997\n");
my $b998 = herd_ask($s, "IAMAT ns.example +2-2 1520023934.918963998\n");

is(stored($w, 'ns.example'), $b998,
	'IAMAT 1 ns newer than the stored one replaces it');

like(herd_ask($s, "IAMAT ns.example +3-3 1520023934.918963997\n"),
	qr/^AT Hands \+\d+\.\d{9} ns\.example \+3-3 1520023934\.918963997\n\z/,
	'an older IAMAT is still answered with its own AT line');

is(stored($w, 'ns.example'), $b998,
	'an older IAMAT (1 ns) does not replace the stored record');

like(herd_ask($s, "IAMAT ns.example +4-4 1520023934.918963998\n"),
	qr/^AT Hands \+\d+\.\d{9} ns\.example \+4-4 1520023934\.918963998\n\z/,
	'an IAMAT with an equal time is answered with its own AT line');

is(stored($w, 'ns.example'), $b998,
	'an equal time from another location keeps the first record');

# times with different fraction lengths compare by value

my $f1 = herd_ask($s, "IAMAT frac.example +1-1 1600000000.5\n");

herd_ask($s, "IAMAT frac.example +2-2 1600000000.499999999\n");
is(stored($w, 'frac.example'), $f1,
	'1600000000.499999999 is older than 1600000000.5');

herd_ask($s, "IAMAT frac.example +3-3 1600000000.500000000\n");
is(stored($w, 'frac.example'), $f1,
	'1600000000.500000000 equals 1600000000.5: first record kept');

my $f4 = herd_ask($s, "IAMAT frac.example +4-4 1600000000.500000001\n");
is(stored($w, 'frac.example'), $f4,
	'1600000000.500000001 is newer than 1600000000.5');

my $f5 = herd_ask($s, "IAMAT frac.example +5-5 1600000001\n");
is(stored($w, 'frac.example'), $f5,
	'1600000001 without fraction is newer than 1600000000.500000001');

herd_ask($s, "IAMAT frac.example +6-6 1600000000.999999999\n");
is(stored($w, 'frac.example'), $f5,
	'1600000000.999999999 is older than 1600000001');

herd_ask($s, "IAMAT frac.example +7-7 1600000001.0\n");
is(stored($w, 'frac.example'), $f5,
	'1600000001.0 equals 1600000001: first record kept');

# a scripted client gets exactly one AT line, then EOF

like(herd_raw($hands, "IAMAT script.example +12-118 1600000000\n"),
	qr/^AT Hands \+\d+\.\d{9} script\.example \+12-118 1600000000\n\z/,
	'scripted client: one AT line, then the server closes');

is($s->read(read_timeout => 0.5), undef,
	'persistent client connection stays open after many replies');

undef $s;
undef $w;

###############################################################################
