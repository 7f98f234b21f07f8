#!/usr/bin/perl

# Tests for the herd stream module: WHATSAT and its reply (PROTOCOL.md
# sections 5, 6 and 7) on a server without a Places API key: the stored AT
# line, the REQUEST_DENIED JSON, the "\n\n" end, radius and bound rules.

###############################################################################

use warnings;
use strict;

use Test::More;
use JSON::PP;

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

    herd_zone zone=goloman:1m;

    server {
        listen 127.0.0.1:8090;
        herd Goloman zone=goloman;
    }
}

EOF

my @valid_radius = qw/ 0.001 0.0001 0.5 1 10 25.5 49.999999 50 50.0 50.000 /;

my @invalid_radius = (qw/
	0 0.0 00 0.000 50.001 50.0000001 51 100 -1 -10 +10 1e1 10. .5 abc
	10km 0x10
/, '5,5');

my @valid_bound = qw/ 1 5 20 /;

my @invalid_bound = qw/ 0 21 5.0 5. -1 +5 abc 1e1 100 /;

my @wrong_fields = (
	'WHATSAT',
	'WHATSAT kiwi.cs.ucla.edu',
	'WHATSAT kiwi.cs.ucla.edu 10',
	'WHATSAT kiwi.cs.ucla.edu 10 5 extra',
	'whatsat kiwi.cs.ucla.edu 10 5',
	'Whatsat kiwi.cs.ucla.edu 10 5',
);

$t->run()->plan(22 + @valid_radius + @invalid_radius + @valid_bound
	+ @invalid_bound + @wrong_fields);

###############################################################################

my $addr = '127.0.0.1:' . port(8090);
my $json = herd_no_key_json();

my $s = stream($addr);

# a known client: the reply, whole

my $at = herd_ask($s, "IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 "
	. "1520023934.918963997\n");
like($at, qr/^AT Goloman \+\d+\.\d{9} kiwi\.cs\.ucla\.edu \+34\.068930-118\.445127 1520023934\.918963997\n\z/,
	'IAMAT for the WHATSAT tests answered');

my $r = herd_ask_reply($s, "WHATSAT kiwi.cs.ucla.edu 10 5\n");
is($r, $at . $json . "\n\n",
	'WHATSAT: stored AT line, REQUEST_DENIED JSON, blank line');

my ($line, $text) = defined $r ? split(/\n/, $r, 2) : ('', '');
is("$line\n", $at,
	'WHATSAT: first line is byte-identical to the IAMAT\'s AT line');

my $obj = eval { JSON::PP->new->decode($text) };
ok(ref $obj eq 'HASH', 'WHATSAT: the rest of the reply parses as JSON')
	or diag($@);
$obj = {} unless ref $obj eq 'HASH';

is($obj->{status}, 'REQUEST_DENIED', 'WHATSAT without key: REQUEST_DENIED');
is_deeply($obj->{html_attributions}, [],
	'WHATSAT without key: html_attributions is []');
is_deeply($obj->{results}, [], 'WHATSAT without key: results is []');
like($obj->{error_message} // '', qr/\bkey\b/i,
	'WHATSAT without key: error_message says the key is missing');

like($r, qr/}\n\n\z/, 'WHATSAT reply ends with "}\n\n"');
is(index($r // '', "\n\n"), length($r // '') - 2,
	'WHATSAT reply has no empty line before its end');

# the AT line is stored, not recomputed: same diff later and elsewhere

select undef, undef, undef, 1.1;

my $w = stream($addr);
is(herd_ask_reply($w, "WHATSAT kiwi.cs.ucla.edu 10 5\n"), $at . $json . "\n\n",
	'WHATSAT a second later on another connection: same AT line and diff');

is(herd_raw($addr, "WHATSAT kiwi.cs.ucla.edu 50 20\n"),
	$at . $json . "\n\n",
	'WHATSAT from a scripted client: the whole reply, then EOF');

is(herd_raw($addr, "\tWHATSAT  kiwi.cs.ucla.edu\t10   5 \r\n"),
	$at . $json . "\n\n",
	'WHATSAT with tabs, extra spaces and CRLF answered');

# a newer IAMAT changes what WHATSAT answers

my $at2 = herd_ask($s, "IAMAT kiwi.cs.ucla.edu +34.1-118.5 "
	. "1520023935\n");
is(herd_ask_reply($w, "WHATSAT kiwi.cs.ucla.edu 10 5\n"),
	$at2 . $json . "\n\n",
	'WHATSAT after a newer IAMAT answers the newer AT line');

# unknown clients

is(herd_ask($s, "WHATSAT nobody.example 10 5\n"),
	"? WHATSAT nobody.example 10 5\n",
	'WHATSAT for an unknown client is invalid');

is(herd_ask($s, "WHATSAT KIWI.CS.UCLA.EDU 10 5\n"),
	"? WHATSAT KIWI.CS.UCLA.EDU 10 5\n",
	'client ids are case-sensitive: upper-case id is unknown');

is(herd_ask($s, "WHATSAT kiwi.cs.ucla 10 5\n"),
	"? WHATSAT kiwi.cs.ucla 10 5\n",
	'a prefix of a known client id is unknown');

# opaque and long client ids come back whole

my $odd = "\xc3\xa9t\xc3\xa9\"{}\\\x01\xff";
my $at3 = herd_ask($s, "IAMAT $odd +1-1 1600000000\n");
is(herd_ask_reply($w, "WHATSAT $odd 10 5\n"), $at3 . $json . "\n\n",
	'WHATSAT for a client id with UTF-8, quotes and binary bytes');

# IAMAT line of 4095 bytes + LF: the default herd_max_line 4k

my $long = 'L' x (4095 - length("IAMAT  +12-118 1600000000"));
my $at4 = herd_ask($s, "IAMAT $long +12-118 1600000000\n");
like($at4, qr/^AT Goloman \+\d+\.\d{9} L{4000,} \+12-118 1600000000\n\z/,
	'IAMAT with a client id of 4k bytes answered');
is(herd_raw($addr, "WHATSAT $long 10 5\n"), $at4 . $json . "\n\n",
	'WHATSAT for a 4k client id returns its whole AT line');

# radius and bound

my $ra = herd_ask($s, "IAMAT r.example +12-118 1600000000\n");

for my $radius (@valid_radius) {
	is(herd_ask_reply($s, "WHATSAT r.example $radius 5\n"),
		$ra . $json . "\n\n", "radius $radius accepted");
}

for my $radius (@invalid_radius) {
	is(herd_ask($s, "WHATSAT r.example $radius 5\n"),
		"? WHATSAT r.example $radius 5\n", "radius $radius is invalid");
}

for my $bound (@valid_bound) {
	is(herd_ask_reply($s, "WHATSAT r.example 10 $bound\n"),
		$ra . $json . "\n\n", "bound $bound accepted");
}

for my $bound (@invalid_bound) {
	is(herd_ask($s, "WHATSAT r.example 10 $bound\n"),
		"? WHATSAT r.example 10 $bound\n", "bound $bound is invalid");
}

for my $line (@wrong_fields) {
	is(herd_ask($s, "$line\n"), "? $line\n", "\"$line\" is invalid");
}

# many WHATSATs at once: every reply whole and in order

is(herd_raw($addr, "WHATSAT r.example 10 5\nWHATSAT nobody.example 10 5\n"
	. "WHATSAT r.example 1 1\n"),
	$ra . $json . "\n\n" . "? WHATSAT nobody.example 10 5\n"
	. $ra . $json . "\n\n",
	'three WHATSATs in one write answered in order');

my $n = 5000;
my $all = herd_raw($addr, "WHATSAT r.example 10 5\n" x $n, timeout => 30);
ok(defined $all && $all eq ($ra . $json . "\n\n") x $n,
	"$n WHATSATs sent before reading: every reply whole, in order")
	or diag('got ' . length($all // '') . ' bytes, expected '
		. length(($ra . $json . "\n\n") x $n));

undef $s;
undef $w;

###############################################################################
