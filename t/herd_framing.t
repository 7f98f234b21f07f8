#!/usr/bin/perl

# Tests for the herd stream module: framing (PROTOCOL.md sections 1, 2 and
# 7): lines per write, split lines, CRLF and other white space, empty lines,
# the final unterminated line at EOF, persistent connections, pipelining,
# herd_timeout and herd_max_line, binary bytes.

###############################################################################

use warnings;
use strict;

use Test::More;

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
    herd_zone zone=hands:1m;
    herd_zone zone=holiday:1m;

    server {
        listen 127.0.0.1:8100;
        herd Goloman zone=goloman;
    }

    server {
        listen 127.0.0.1:8101;
        herd Hands zone=hands;
        herd_timeout 1s;
    }

    server {
        listen 127.0.0.1:8102;
        herd Holiday zone=holiday;
        herd_max_line 128;
    }
}

EOF

$t->run()->plan(38);

###############################################################################

my $goloman = '127.0.0.1:' . port(8100);
my $hands = '127.0.0.1:' . port(8101);
my $holiday = '127.0.0.1:' . port(8102);

my $json = herd_no_key_json();

sub pause {
	select undef, undef, undef, shift;
}

# an AT line from server $name for exactly these client fields
sub at_re {
	my ($name, $id, $loc, $time) = @_;
	return qr/^AT \Q$name\E [+-]\d+\.\d{9} \Q$id $loc $time\E\n\z/;
}

my ($s, $r, $data, $eof);

$s = stream($goloman);

is($s->read(read_timeout => 0.5), undef,
	'no banner: the server sends nothing before a command');

# several lines in one write, answered in order

$s->write("IAMAT one.example +1-1 1600000000\nFOO bar\n"
	. "WHATSAT one.example 10 5\nIAMAT two.example +2-2 1600000001\n");

my $at1 = herd_line($s);
like($at1, at_re('Goloman', 'one.example', '+1-1', '1600000000'),
	'4 lines in one write: 1st answered first (AT)');
is(herd_line($s), "? FOO bar\n",
	'4 lines in one write: 2nd answered second (invalid)');
is(herd_reply($s), ($at1 // '') . $json . "\n\n",
	'4 lines in one write: 3rd answered third (WHATSAT)');
like(herd_line($s), at_re('Goloman', 'two.example', '+2-2', '1600000001'),
	'4 lines in one write: 4th answered last (AT)');

# a line split across writes

$s->write('IAM');
pause(0.2);
$s->write('AT split.example +1-1 ');
pause(0.2);
$s->write('1600000000');

is($s->read(read_timeout => 0.5), undef,
	'no reply to a line before its LF arrives');

$s->write("\n");
like(herd_line($s), at_re('Goloman', 'split.example', '+1-1', '1600000000'),
	'a line split across 4 writes with pauses answered once, whole');

$s->write("IAMAT x.example +1-1 1600000000\nIAM");
pause(0.2);
$s->write("AT y.example +2-2 1600000000\r");
pause(0.2);
$s->write("\n");
$r = (herd_line($s) // '') . (herd_line($s) // '');
like($r, qr/^AT Goloman \S+ x\.example \+1-1 1600000000\nAT Goloman \S+ y\.example \+2-2 1600000000\n\z/,
	'a write ending inside the next line, CR and LF in separate writes');

# CRLF and other white space

like(herd_ask($s, "IAMAT crlf.example +1-1 1600000000\r\n"),
	at_re('Goloman', 'crlf.example', '+1-1', '1600000000'),
	'telnet CRLF: AT answered, no CR in the echoed fields');

is(herd_ask($s, "FOO bar\r\n"), "? FOO bar\n",
	'telnet CRLF: invalid line echoed without the CR');

like(herd_ask($s, "  IAMAT\tkiwi.cs.ucla.edu   +34.068930-118.445127 "
	. "1520023934.918963997 \r\n"),
	at_re('Goloman', 'kiwi.cs.ucla.edu', '+34.068930-118.445127',
		'1520023934.918963997'),
	'section 2 example with tabs, extra spaces and CR is a valid IAMAT');

like(herd_ask($s, "\x0bIAMAT\fff.example\x0b+1-1\f\x0b1600000000\f\n"),
	at_re('Goloman', 'ff.example', '+1-1', '1600000000'),
	'form feed and vertical tab separate fields');

is(herd_ask($s, "\f  FOO\tbar \x0b baz \r\n"), "? FOO\tbar \x0b baz\n",
	'invalid line: outer white space trimmed, interior bytes untouched');

# empty and white-space-only lines get no reply

is(herd_ask($s, "\n \t\r\n\f\x0b\n\r\n\nFOO\n"), "? FOO\n",
	'empty and white-space-only lines produce no reply');

# binary bytes

is(herd_ask($s, "FOO\x00\x01\xff\x7f bar\x00\n"),
	"? FOO\x00\x01\xff\x7f bar\x00\n",
	'NUL and binary bytes in an invalid line are echoed back');

is(herd_ask($s, "\x00\n"), "? \x00\n", 'a lone NUL is a command, not white space');

# a persistent connection stays open

pause(1.5);

is($s->read(read_timeout => 0.5), undef,
	'persistent connection stays open after replies and 2 s idle');

like(herd_ask($s, "IAMAT later.example +1-1 1600000000\n"),
	at_re('Goloman', 'later.example', '+1-1', '1600000000'),
	'persistent connection still answers after being idle');

# 1000 pipelined commands in one write

my $n = 1000;
my @re;
$data = '';

for my $i (0 .. $n - 1) {
	if ($i % 10 == 9) {
		$data .= "BAD $i\n";
		push @re, qr/^\? BAD $i\n\z/;
	} else {
		$data .= "IAMAT p$i.example +1-1 1600000000.$i\n";
		push @re, at_re('Goloman', "p$i.example", '+1-1',
			"1600000000.$i");
	}
}

$s->write($data);

my ($good, $first_bad) = (0, undef);
for my $i (0 .. $n - 1) {
	my $line = herd_line($s, timeout => 5);
	if (defined $line && $line =~ $re[$i]) {
		$good++;
	} else {
		$first_bad = [$i, $line] unless $first_bad;
		last unless defined $line;
	}
}
is($good, $n, "$n pipelined commands in one write all answered in order")
	or diag("first wrong reply #$first_bad->[0]: "
		. ($first_bad->[1] // 'none'));

undef $s;

# the final unterminated line at EOF; the server closes after its reply

$s = stream($goloman);
$s->write('IAMAT eof.example +1-1 1600000000');
herd_half_close($s);
($data, $eof) = herd_read_eof($s);
like($data, at_re('Goloman', 'eof.example', '+1-1', '1600000000'),
	'unterminated last line before EOF answered');
ok($eof, 'server closes the connection after answering the last line');

$s = stream($goloman);
$s->write("FOO\nBAR");
herd_half_close($s);
($data, $eof) = herd_read_eof($s);
is("$data" . ($eof ? '<EOF>' : ''), "? FOO\n? BAR\n<EOF>",
	'a line and an unterminated line before EOF: both answered, then EOF');

$s = stream($goloman);
$s->write("IAMAT ws.example +1-1 1600000000\n \t ");
herd_half_close($s);
($data, $eof) = herd_read_eof($s);
like($data, at_re('Goloman', 'ws.example', '+1-1', '1600000000'),
	'white space after the last LF at EOF gets no reply');

$s = stream($goloman);
$s->write("\n  \n\t");
herd_half_close($s);
($data, $eof) = herd_read_eof($s);
is("$data" . ($eof ? '<EOF>' : ''), '<EOF>',
	'only white space, then EOF: no reply, connection closed');

$s = stream($goloman);
herd_half_close($s);
($data, $eof) = herd_read_eof($s);
is("$data" . ($eof ? '<EOF>' : ''), '<EOF>',
	'EOF without any data: connection closed, nothing sent');

# a client that leaves without reading its replies

$s = stream($goloman);
$s->write("WHATSAT one.example 10 5\n" x 2000);
undef $s;

like(herd_raw($goloman, "IAMAT after.example +1-1 1600000000\n"),
	at_re('Goloman', 'after.example', '+1-1', '1600000000'),
	'server keeps working after a client left without reading replies');

# herd_timeout 1s

$s = stream($hands);
like(herd_ask($s, "IAMAT idle.example +1-1 1600000000\n"),
	at_re('Hands', 'idle.example', '+1-1', '1600000000'),
	'herd_timeout server answers');

pause(1.5);

($data, $eof) = herd_read_eof($s, timeout => 5);
is("$data" . ($eof ? '<EOF>' : ''), '<EOF>',
	'herd_timeout 1s: idle connection closed by the server, no data sent');

$s = stream($hands);
($data, $eof) = herd_read_eof($s, timeout => 5);
is("$data" . ($eof ? '<EOF>' : ''), '<EOF>',
	'herd_timeout 1s: a connection that never sends is closed too');

undef $s;

# herd_max_line 128

$s = stream($holiday);

my $line = 'IAMAT ' . ('x' x 194);
is(herd_ask($s, "$line\n"), '? ' . substr($line, 0, 64) . "...\n",
	'over-long line answered with "? " + its first 64 bytes + "..."');

like(herd_ask($s, "IAMAT ok.example +1-1 1600000000\n"),
	at_re('Holiday', 'ok.example', '+1-1', '1600000000'),
	'the line after an over-long one is answered normally');

is(herd_ask($s, "  \t " . ('Y' x 300) . "\n"), '? ' . ('Y' x 64) . "...\n",
	'over-long line: leading white space not counted in its 64 bytes');

$s->write('Z' x 150);
pause(0.2);
$s->write(('W' x 300) . ' IAMAT inside.example +1-1 1600000000');
pause(0.2);
$s->write("\nIAMAT after.example +1-1 1600000000\n");

is(herd_line($s), '? ' . ('Z' x 64) . "...\n",
	'over-long line arriving in 3 writes: a single "..." answer');
like(herd_line($s), at_re('Holiday', 'after.example', '+1-1', '1600000000'),
	'rest of the over-long line discarded up to its LF, next line answered');

my $id = 'm' x (127 - length('IAMAT  +1-1 1600000000'));
$line = "IAMAT $id +1-1 1600000000";
like(herd_ask($s, "$line\n"), at_re('Holiday', $id, '+1-1', '1600000000'),
	'line of exactly herd_max_line bytes including its LF is processed');

is(herd_ask($s, "$line \n"), '? ' . substr($line, 0, 64) . "...\n",
	'line of herd_max_line + 1 bytes including its LF is over-long');

$s->write("FOO\n" . ('A' x 300) . "\nBAR\n");
$r = join '', map { herd_line($s) // '' } 1 .. 3;
is($r, "? FOO\n? " . ('A' x 64) . "...\n? BAR\n",
	'lines before and after an over-long line in one write answered');

is(herd_raw($holiday, 'Q' x 500), '? ' . ('Q' x 64) . "...\n",
	'over-long unterminated line at EOF: one answer, then EOF');

undef $s;

###############################################################################
