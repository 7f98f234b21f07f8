#!/usr/bin/perl

# Tests for ngx_stream_herd_module: logging.  With "error_log FILE info;" in
# a herd server, the file shows every session opened and closed and every
# line received and sent; at the default level (error) nothing of that.

###############################################################################

use warnings;
use strict;

use Test::More;

use Test::Nginx;
use Test::Nginx::Stream qw/ stream /;
use Herd::Util;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Nginx->new()->has(qw/stream/)
	->write_file_expand('nginx.conf', <<'EOF');

%%TEST_GLOBALS%%

daemon off;

events {
}

stream {
    %%TEST_GLOBALS_STREAM%%

    herd_zone zone=goloman:1m;
    herd_zone zone=hands:1m;
    herd_zone zone=holiday:1m;

    herd_max_line 128;

    server {
        listen 127.0.0.1:8130;
        herd Goloman zone=goloman;
        error_log %%TESTDIR%%/herd.log info;
    }

    server {
        listen 127.0.0.1:8131;
        herd Hands zone=hands;
        error_log %%TESTDIR%%/quiet.log;
    }

    server {
        listen 127.0.0.1:8132;
        herd Holiday zone=holiday;
        herd_timeout 1s;
        error_log %%TESTDIR%%/herd.log info;
    }
}

EOF

$t->run()->plan(17);

###############################################################################

my $iamat = 'IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1520023934.918963997';
my $whatsat = 'WHATSAT kiwi.cs.ucla.edu 10 5';
my $invalid = 'iamat kiwi.cs.ucla.edu +34.068930-118.445127 1520023934.918963997';
my $long = 'IAMAT ' . 'x' x 200 . ' +1-2 1600000000';

# one session, scripted-client style: the lines, then EOF

my $reply = herd_chat('127.0.0.1:' . port(8130),
	"  $iamat \t", $whatsat, $invalid, $long);

my ($at) = $reply =~ /\A(AT Goloman [^\n]*)\n/;
like($reply, qr/\AAT Goloman [^\n]*\n\Q$at\E\n\{\n.*\}\n\n\? \Q$invalid\E\n\? IAMAT x{58}\.\.\.\n\z/s,
	'the session got its four answers');

my $log = $t->read_file('herd.log');

# every entry of the session carries the same connection number

my ($conn) = $log =~ /\*(\d+) herd Goloman: session opened/;
ok(defined $conn, 'session open is logged');

sub entry {
	my ($log, $conn, $text) = @_;
	return $log =~ /^\S+ \S+ \[info\] \d+#\d+: \*$conn herd Goloman: \Q$text\E/m;
}

ok(entry($log, $conn, "recv \"$iamat\""), 'IAMAT received is logged, trimmed');
ok(entry($log, $conn, "send \"$at\""), 'AT line sent is logged');
ok(entry($log, $conn, "recv \"$whatsat\""), 'WHATSAT received is logged');
is(() = $log =~ /\*$conn herd Goloman: send "\Q$at\E/g, 2,
	'the WHATSAT reply is logged as sent, with its AT line');
ok(entry($log, $conn, 'no Places key configured, answering REQUEST_DENIED'),
	'why WHATSAT got no places is logged');
ok(entry($log, $conn, "recv invalid \"$invalid\""), 'invalid line is logged');
ok(entry($log, $conn, "send \"? $invalid\""), 'its "?" answer is logged');
ok(entry($log, $conn, 'line longer than herd_max_line 128'),
	'over-long line is logged');
ok(entry($log, $conn, 'session closed: client closed connection'),
	'session close is logged with its reason');

my @order = map { index($log, $_) } "*$conn herd Goloman: session opened",
	"*$conn herd Goloman: recv \"$iamat\"",
	"*$conn herd Goloman: send \"$at\"",
	"*$conn herd Goloman: recv \"$whatsat\"",
	"*$conn herd Goloman: recv invalid",
	"*$conn herd Goloman: line longer",
	"*$conn herd Goloman: session closed";
ok(!grep({ $order[$_] <= $order[$_ - 1] } 1 .. $#order),
	'the entries are in session order');

# a log file of an nginx server: one entry per line, each with its time,
# level and process; replies of several lines must not spill into it

my @stray = grep { !m!^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[\w+\] \d+#\d+: ! }
	split /\n/, $log;
is(join("\n", @stray), '', 'herd.log holds one entry per line');

# an idle session's end is logged with its reason

my $s = stream('127.0.0.1:' . port(8132));
$s->write("IAMAT idle.example +1-2 1600000000\n");
like(herd_line($s), qr/^AT Holiday /, 'idle client answered');
is($s->read(read_timeout => 10), '', 'idle client closed by the server');
undef $s;

like($t->read_file('herd.log'),
	qr/herd Holiday: session closed: client timed out/,
	'idle timeout is logged');

# the default level (error) shows none of it

herd_chat('127.0.0.1:' . port(8131), $iamat, 'WHATSAT kiwi.cs.ucla.edu 10 5',
	$invalid, $long, 'WHATSAT nobody.example 10 5');

is($t->read_file('quiet.log'), '',
	'at the default log level a session logs nothing');

###############################################################################
