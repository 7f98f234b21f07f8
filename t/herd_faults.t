#!/usr/bin/perl

# Tests for the herd stream module: fault injection on one herd server
# (issue 6, item 3).  What a user or an operator would notice, never
# timings; every wait is generous and every loop bounded.
#
# Covered:
# - NUL bytes and binary garbage in lines, split across segments: each
#   line answered "? " and the line trimmed (or "? " + 64 bytes + "..."
#   when over-long), the server keeps working, its log keeps one entry
#   per line;
# - a client sending one byte per second: answered when its line is
#   complete (not before), never timed out while it trickles, while other
#   clients are served;
# - Places faults not in t/herd_places.t: an answer cut off mid-body
#   (Content-Length and chunked, and a cut-off body that happens to be
#   valid JSON), 100 MB streamed, and more kinds of invalid JSON (deep
#   nesting, NUL bytes, trailing garbage, an array, an empty body, binary
#   noise): the client gets its AT line and an error JSON, other clients
#   are served meanwhile;
# - a zone full under constant churn from two connections at once: every
#   IAMAT answered, the most recent clients known (LRU order), the
#   digests consistent with the records held;
# - kill -9 of a worker in the middle of a stream of updates (new clients
#   and newer locations of known ones), three times at random moments:
#   the master respawns it, nothing deadlocks, every record stored before,
#   during and after is answered byte for byte, and the zone's digests are
#   those of what it answers; then up to three times while the worker
#   holds the zone mutex in the middle of a change (caught by stopping it
#   and reading the lock word at the start of the zone through /proc):
#   nginx unlocks the zone, and the service must go on: nothing
#   deadlocks, no worker crashes afterwards, every client is answered and
#   can send a newer location (an OOM kill can land there just as well);
# - 10,000 concurrent idle client connections: all held and served, a
#   new client still answered, all closed cleanly.
#
# Worker kills and the "no alerts" check.  nginx's master logs a worker
# killed by a signal at the alert level ("worker process N exited on
# signal 9", and "shared memory zone "kill" was locked by N" when it held
# the zone's mutex), in its main error log.  The harness fails any test
# directory whose error.log has an [alert] line, and masking that with
# the harness's "expected alerts" switch would hide the module's own alerts
# too.  So the killing
# runs in a second nginx ($k) whose main-context error_log is master.log:
# its globals are the harness's own %%TEST_GLOBALS%% text with that one
# path changed (calling test_globals() also tells the harness not to add
# its own -g "error_log error.log").  Its stream server logs to error.log
# (the file the harness checks, so every alert of the module while
# serving lands there as usual), and the test checks master.log itself:
# the only alerts allowed there are those two messages for the pids the
# test killed, each of which must be there; any other alert, crit or
# emerg, or a sanitizer report, fails.

###############################################################################

use warnings;
use strict;

use Test::More;
use IO::Poll qw/ POLLIN POLLERR POLLHUP /;
use IO::Socket::INET;
use JSON::PP;
use Time::HiRes qw/ time sleep /;

use Test::Nginx;
use Test::Nginx::Stream qw/ stream /;
use Herd::Util;
use Herd::Proto;
use Herd::Herd qw/ wait_for /;
use Herd::Fault;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Nginx->new()->has(qw/stream/);

# 10,000 idle clients need as many descriptors here and in the worker

my $IDLE = 10000;
my ($soft, $hard) = fault_nofile($IDLE + 500);
my $can_idle = $soft >= $IDLE + 500 && $hard >= $IDLE + 1000;

my $limits = $can_idle ? 'worker_rlimit_nofile ' . ($IDLE + 1000) . ';' : '';
my $conns = 'worker_connections ' . ($can_idle ? $IDLE + 500 : 1024) . ';';

# one worker: whatever it serves while a fault lasts, it serves in the same
# event loop

$t->write_file_expand('nginx.conf', <<"EOF");

%%TEST_GLOBALS%%

daemon off;
worker_processes 1;
$limits

events {
    $conns
}

stream {
    %%TEST_GLOBALS_STREAM%%

    herd_zone zone=faults:4m;
    herd_zone zone=slow:64k;
    herd_zone zone=places:64k;
    herd_zone zone=idle:8m;

    server {
        listen 127.0.0.1:8260;
        herd Faults zone=faults;
        error_log %%TESTDIR%%/herd.log info;
        error_log %%TESTDIR%%/error.log info;
    }

    server {
        listen 127.0.0.1:8261;
        herd Slow zone=slow;
        herd_timeout 5s;
        error_log %%TESTDIR%%/error.log info;
    }

    server {
        listen 127.0.0.1:8262;
        herd Places zone=places;
        herd_places_key fault-test-key;
        herd_places_api legacy;
        herd_places_url http://127.0.0.1:8263/nearby;
        herd_places_timeout 60s;
        error_log %%TESTDIR%%/error.log info;
    }

    server {
        listen 127.0.0.1:8264 backlog=4096;
        herd Idle zone=idle;
        error_log %%TESTDIR%%/error.log notice;
    }
}

EOF

my $dir = $t->testdir();

my $faults = '127.0.0.1:' . port(8260);
my $slow = '127.0.0.1:' . port(8261);
my $places = '127.0.0.1:' . port(8262);
my $idle = '127.0.0.1:' . port(8264);

###############################################################################

# the fake Places API: what it does for a call is what the file "mode"
# says when the call arrives; it notes in places.log what it did

my %modes;

sub mode {
	my ($m) = @_;
	open my $fh, '>', "$dir/mode.tmp" or die "mode: $!\n";
	print $fh $m;
	close $fh;
	rename "$dir/mode.tmp", "$dir/mode" or die "mode: $!\n";
}

sub go_file {
	my ($name) = @_;
	return "$dir/go-$name";
}

# waits (bounded) for the test to say "go on"
sub hold {
	my ($name) = @_;
	my $deadline = time() + 20;
	sleep(0.05) while !-e go_file($name) && time() < $deadline;
}

my $ok_json = '{"html_attributions":[],"results":[{"name":"Cafe","place_id":"p1"},'
	. '{"name":"Bar","place_id":"p2"}],"status":"OK"}';

sub put {
	my ($c, $data) = @_;
	local $SIG{PIPE} = 'IGNORE';
	$c->blocking(1);
	while (length $data) {
		my $n = syswrite($c, $data);
		return 0 unless $n;
		substr($data, 0, $n, '');
	}
	return 1;
}

sub respond {
	my ($c, $head, $body) = @_;
	put($c, $head . "\r\n" . $body);
}

%modes = (
	ok => sub {
		my ($c) = @_;
		respond($c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
			. "Content-Length: " . length($ok_json) . "\r\n"
			. "Connection: close\r\n", $ok_json);
		return 'answered ok';
	},

	# 4000 bytes announced, 1500 sent, then held, then closed
	mid => sub {
		my ($c) = @_;
		my $body = '{"html_attributions":[],"results":['
			. join(',', map { qq({"name":"Place $_","place_id":"id$_"}) }
				1 .. 200) . '],"status":"OK"}';
		respond($c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
			. "Content-Length: 4000\r\n", substr($body, 0, 1500));
		open my $fh, '>>', "$dir/places.log";
		print $fh "mid: holding\n";
		close $fh;
		hold('mid');
		return 'mid: closed after 1500 of 4000 bytes';
	},

	# a chunk, then the connection closed without the last chunk
	chunked => sub {
		my ($c) = @_;
		my $chunk = substr($ok_json, 0, 40);
		respond($c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
			. "Transfer-Encoding: chunked\r\n",
			sprintf("%x\r\n%s\r\n", length $chunk, $chunk));
		return 'chunked: closed without the last chunk';
	},

	# what arrives is a whole JSON answer, but less than announced
	partial => sub {
		my ($c) = @_;
		respond($c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
			. "Content-Length: " . (length($ok_json) + 100) . "\r\n",
			$ok_json);
		return 'partial: closed 100 bytes short';
	},

	# 100 MB, no Content-Length; held once 512 KB are out
	huge => sub {
		my ($c) = @_;
		local $SIG{PIPE} = 'IGNORE';
		$c->blocking(1);

		my $sent = 0;
		my $place = '{"name":"' . ('x' x 980) . '","place_id":"p"},';
		my $chunk = $place x 64;
		my $held = 0;

		put($c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
			. "Connection: close\r\n\r\n"
			. '{"html_attributions":[],"status":"OK","results":[');

		while ($sent < 100_000_000) {
			my $n = syswrite($c, $chunk);
			last unless $n;
			$sent += $n;

			if (!$held && $sent >= 512 * 1024) {
				$held = 1;
				open my $fh, '>>', "$dir/places.log";
				print $fh "huge: holding\n";
				close $fh;
				hold('huge');
			}
		}

		return "huge: sent $sent";
	},

	nested => sub {
		my ($c) = @_;
		my $body = '{"status":"OK","results":[' . ('[' x 100000)
			. (']' x 100000) . ']}';
		respond($c, "HTTP/1.1 200 OK\r\nContent-Length: "
			. length($body) . "\r\n", $body);
		return 'nested';
	},

	nul => sub {
		my ($c) = @_;
		my $body = qq({"html_attributions":[],"results":[],\x00"status":"OK"});
		respond($c, "HTTP/1.1 200 OK\r\nContent-Length: "
			. length($body) . "\r\n", $body);
		return 'nul';
	},

	nul_string => sub {
		my ($c) = @_;
		my $body = qq({"html_attributions":[],"results":[{"name":"Caf\x00e"}],"status":"OK"});
		respond($c, "HTTP/1.1 200 OK\r\nContent-Length: "
			. length($body) . "\r\n", $body);
		return 'nul_string';
	},

	trailing => sub {
		my ($c) = @_;
		my $body = $ok_json . "\n<html>trailing garbage</html>";
		respond($c, "HTTP/1.1 200 OK\r\nContent-Length: "
			. length($body) . "\r\n", $body);
		return 'trailing';
	},

	array => sub {
		my ($c) = @_;
		my $body = "[$ok_json]";
		respond($c, "HTTP/1.1 200 OK\r\nContent-Length: "
			. length($body) . "\r\n", $body);
		return 'array';
	},

	empty => sub {
		my ($c) = @_;
		respond($c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n", '');
		return 'empty';
	},

	noise => sub {
		my ($c) = @_;
		srand(6);
		my $body = join '', map { chr(int rand 256) } 1 .. 3000;
		respond($c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
			. "Content-Length: " . length($body) . "\r\n", $body);
		return 'noise';
	},
);

mode('ok');

my $fake = fault_http(port => port(8263), file => "$dir/places.log",
	answer => sub {
		my ($c, $req) = @_;
		open my $fh, '<', "$dir/mode" or return 'no mode';
		my $m = <$fh>;
		close $fh;
		return "unknown mode $m" unless $modes{$m};
		return $modes{$m}->($c, $req);
	});

###############################################################################

# the second nginx, for the kills: two workers, the master's own log apart

my $k = Test::Nginx->new()->has(qw/stream/);

(my $globals = $k->test_globals())
	=~ s!(error_log\s+\S*/)error\.log\b!${1}master.log!
	or die "no error_log error.log in the harness's globals\n";

my $KILL_ZONE = 64 * 1024 * 1024;

my $kconf = <<'EOF';

%%MASTER_GLOBALS%%

daemon off;
worker_processes 2;

events {
}

stream {
    %%TEST_GLOBALS_STREAM%%

    herd_zone zone=kill:64m;
    herd_zone zone=churn:128k;

    # Ghost is never there: greeting as Ghost shows the zone's digests

    server {
        listen 127.0.0.1:8265;
        herd Kill zone=kill;
        herd_peer Ghost 127.0.0.1:8266;
        error_log %%TESTDIR%%/error.log notice;
    }

    server {
        listen 127.0.0.1:8267 reuseport;
        herd Churn zone=churn;
        herd_peer Ghost 127.0.0.1:8266;
        error_log %%TESTDIR%%/error.log notice;
    }
}

EOF

$kconf =~ s/%%MASTER_GLOBALS%%/$globals/;
$k->write_file_expand('nginx.conf', $kconf);

my $kill = '127.0.0.1:' . port(8265);
my $churn = '127.0.0.1:' . port(8267);
port(8266);

my $kdir = $k->testdir();

$t->run();
$k->run();

$t->plan(74 + 2);

###############################################################################

sub places_error {
	my ($message) = @_;
	return "{\n   \"error_message\" : \"$message\",\n"
		. "   \"html_attributions\" : [],\n   \"results\" : [],\n"
		. "   \"status\" : \"UNKNOWN_ERROR\"\n}";
}

sub read_text {
	my ($path) = @_;
	open my $fh, '<', $path or return '';
	local $/;
	my $text = <$fh>;
	close $fh;
	return $text // '';
}

sub places_log {
	return read_text("$dir/places.log");
}

sub herd_log {
	return read_text("$dir/herd.log");
}

sub wait_text {
	my ($code, $re, $timeout) = @_;
	return wait_for(sub { $code->() =~ $re }, timeout => $timeout // 20);
}

sub trim {
	my ($s) = @_;
	$s =~ s/^[ \t\r\n\f\x0b]+//;
	$s =~ s/[ \t\r\n\f\x0b]+\z//;
	return $s;
}

my $tick = 0;

sub ctime {
	$tick++;
	return (1600000000 + $tick) . '.25';
}

# IAMAT then WHATSAT on a fresh connection: (AT line, WHATSAT reply)
sub ask {
	my ($addr, $id) = @_;
	my $s = stream($addr);
	my $at = herd_ask($s, "IAMAT $id +34.068930-118.445127 " . ctime()
		. "\n") // '';
	my $r = herd_ask_reply($s, "WHATSAT $id 10 5\n", timeout => 30) // '';
	return ($at, $r);
}

###############################################################################

# a client sending one byte per second, in the background while the rest
# runs (on a server whose herd_timeout is 5 s: a client that trickles is
# not idle)

my $slow_line = "IAMAT s +1-1 1\n";

my $trickler = fault_fork(sub {
	open my $out, '>', "$dir/slow.tmp" or die;

	my $c = IO::Socket::INET->new(Proto => 'tcp', PeerAddr => $slow)
		or die "slow: $!\n";
	my $sel = IO::Select->new($c);

	my $early = '';
	for my $byte (split //, $slow_line) {
		syswrite($c, $byte);
		sleep(1);
		if ($byte ne "\n" && $sel->can_read(0)) {
			sysread($c, my $buf, 1024);
			$early .= $buf // '';
		}
	}

	my $reply = '';
	while ($reply !~ /\n/ && $sel->can_read(10)) {
		sysread($c, $reply, 1024, length $reply) or last;
	}

	# the connection still works at normal speed
	syswrite($c, "WHATSAT s 1 1\n");
	my $more = '';
	while ($more !~ /\n\n/ && $sel->can_read(10)) {
		sysread($c, $more, 4096, length $more) or last;
	}

	print $out JSON::PP->new->ascii->encode({ early => $early,
		reply => $reply, more => $more });
	close $out;
	close $c;
	rename "$dir/slow.tmp", "$dir/slow.json";
});

like(herd_chat($slow, 'IAMAT quick +2-2 1600000000'), qr/^AT Slow \S+ quick \+2-2 1600000000\n\z/,
	'slow client: another client of its server answered meanwhile');

###############################################################################

# NUL bytes and binary garbage

srand(20240611);

my (@lines, @expect, $invalid, $long);

sub noise {
	my ($n) = @_;
	return join '', map { my $b = int rand 255; chr($b >= 10 ? $b + 1 : $b) }
		1 .. $n;
}

for my $i (1 .. 1500) {
	my $kind = rand();
	my $l;

	if ($kind < 0.55) {
		$l = noise(1 + int rand 120);
	} elsif ($kind < 0.75) {
		# a command word, then garbage with a NUL in its last field
		$l = (rand() < 0.5 ? 'IAMAT ' : 'WHATSAT ') . noise(int rand 40)
			. "\x00";
	} elsif ($kind < 0.88) {
		my $ws = sub { join '', map { (' ', "\t", "\r", "\f", "\x0b")[rand 5] }
			1 .. 1 + int rand 4 };
		$l = $ws->() . noise(1 + int rand 60) . $ws->();
	} elsif ($kind < 0.94) {
		$l = join '', map { (' ', "\t", "\r", "\f", "\x0b")[rand 5] }
			1 .. 1 + int rand 5;
	} elsif ($kind < 0.97) {
		$l = "\x00" x (1 + int rand 10);
	} else {
		$l = noise(5000 + int rand 3000);
	}

	push @lines, $l;

	my $trimmed = trim($l);
	next unless length $trimmed;

	if (length($l) + 1 > 4096) {
		(my $lead = $l) =~ s/^[ \t\r\n\f\x0b]+//;
		push @expect, '? ' . substr($lead, 0, 64) . "...\n";
		$long++;
	} else {
		push @expect, "? $trimmed\n";
		$invalid++;
	}
}

my $log_from = length herd_log();

my $valid = 'IAMAT after.garbage +1-1 ' . ctime();
my $got = fault_talk($faults, join('', map { "$_\n" } @lines, $valid),
	chunks => [1, 700], timeout => 60) // '';

my @got_lines = $got =~ /([^\n]*\n)/g;
my $at_after = pop @got_lines // '';

is(scalar @got_lines, scalar @expect,
	"garbage: one reply per non-empty line ($invalid invalid, $long over-long)");

my @wrong = grep { ($got_lines[$_] // '') ne $expect[$_] } 0 .. $#expect;
is(scalar @wrong, 0, 'garbage: every reply is "? " and the trimmed bytes')
	or diag(explain([ map { [ $expect[$_], $got_lines[$_] ] }
		@wrong[0 .. ($#wrong < 2 ? $#wrong : 2)] ]));

like($at_after, qr/^AT Faults \S+ after\.garbage \+1-1 \S+\n\z/,
	'garbage: a valid IAMAT after it, on the same connection, answered');

my ($at, $r) = ask($faults, 'fresh.after.garbage');
is($r, $at . herd_no_key_json() . "\n\n",
	'garbage: a new connection gets IAMAT and WHATSAT answered');

my $log = substr(herd_log(), $log_from);

my @stray = grep { !m!^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[\w+\] \d+#\d+: ! }
	split /\n/, $log;
is(scalar @stray, 0, 'garbage: herd.log holds one entry per line')
	or diag(explain([ @stray[0 .. ($#stray < 2 ? $#stray : 2)] ]));

is(scalar(() = $log =~ /herd Faults: recv invalid "/g), $invalid,
	'garbage: every invalid line logged once');
is(scalar(() = $log =~ /herd Faults: line longer than herd_max_line 4096/g),
	$long, 'garbage: every over-long line logged once');
unlike($log, qr/[\x00\x80-\xff]/, 'garbage: no raw binary byte in the log');

###############################################################################

# Places faults: every client gets its AT line and an error JSON

# cut off mid-body (Content-Length), other clients served meanwhile

my $s = stream($places);
my $s_at = herd_ask($s, "IAMAT mid.client +34.068930-118.445127 " . ctime()
	. "\n") // '';

mode('mid');
$s->write("WHATSAT mid.client 10 5\n");

ok(wait_text(\&places_log, qr/mid: holding/), 'mid-body: the fake holds the '
	. 'answer half sent');

like(herd_chat($places, 'IAMAT other.mid +1-1 1600000000'),
	qr/^AT Places \S+ other\.mid \+1-1 1600000000\n\z/,
	'mid-body: meanwhile another client of that server is answered');

my ($o_at, $o_r) = ask($faults, 'other.mid');
is($o_r, $o_at . herd_no_key_json() . "\n\n",
	'mid-body: and a client of another server of the same worker');

mode('ok');
open my $go, '>', go_file('mid');
close $go;

$r = herd_reply($s, timeout => 30) // '';
is($r, $s_at . places_error('The Places API request failed') . "\n\n",
	'mid-body close (Content-Length): AT line and UNKNOWN_ERROR');
like(read_text("$dir/error.log"), qr/\[error\].*herd places: upstream call for \S+ failed: .*transfer closed/i,
	'mid-body close: the reason logged');

mode('chunked');
$s->write("WHATSAT mid.client 11 5\n");
is(herd_reply($s, timeout => 30), $s_at . places_error('The Places API request failed')
	. "\n\n", 'mid-body close (chunked): AT line and UNKNOWN_ERROR');

mode('partial');
$s->write("WHATSAT mid.client 12 5\n");
is(herd_reply($s, timeout => 30), $s_at . places_error('The Places API request failed')
	. "\n\n", 'a whole JSON but less than Content-Length: not relayed');

undef $s;

# 100 MB streamed without Content-Length

mode('huge');

my $before = fault_anon_kb($t);

$s = stream($places);
$s_at = herd_ask($s, "IAMAT huge.client +34.068930-118.445127 " . ctime()
	. "\n") // '';
$s->write("WHATSAT huge.client 10 5\n");

ok(wait_text(\&places_log, qr/huge: holding/),
	'100 MB answer: 512 KB sent, the fake holds');

($at, $r) = ask($faults, 'during.huge');
is($r, $at . herd_no_key_json() . "\n\n",
	'100 MB answer: meanwhile other clients are answered');

open $go, '>', go_file('huge');
close $go;

$r = herd_reply($s, timeout => 60) // '';
is($r, $s_at . places_error('The Places API answer was too large') . "\n\n",
	'100 MB answer: AT line and "too large"');

ok(wait_text(\&places_log, qr/huge: sent \d+/, 30), '100 MB answer: the fake '
	. 'stopped sending');
my ($sent) = places_log() =~ /huge: sent (\d+)/;
cmp_ok($sent // 1e9, '<', 100_000_000,
	'100 MB answer: the herd hung up long before the end');

my $after = fault_anon_kb($t);
cmp_ok($after - $before, '<', 32 * 1024,
	"100 MB answer: the worker's private memory grew by less than 32 MB "
	. "($before kB before, $after kB after)");

undef $s;

# invalid JSON of several kinds

for my $m (qw/ nested nul nul_string trailing array empty noise /) {
	mode($m);
	($at, $r) = ask($places, "json.$m");
	is($r, $at . places_error('The Places API answered invalid JSON') . "\n\n",
		"invalid JSON ($m): AT line and UNKNOWN_ERROR");
}

mode('ok');
($at, $r) = ask($places, 'json.ok');
like($r, qr/^\Q$at\E\{\n.*"name" : "Cafe".*"status" : "OK"\n}\n\n\z/s,
	'after all that, a good Places answer is relayed');

###############################################################################

# a zone full under constant churn, from two connections at once (nginx
# $k, two workers, a 128k zone)

my @churners = map {
	fault_updater(addr => $churn, file => "$kdir/churn-$_", prefix => "c$_",
		stop => "$kdir/churn-stop", max => 4000, batch => 25,
		seconds => 120)
} qw/ a b /;

ok(fault_wait(\@churners, timeout => 120), 'churn: 2 x 4000 IAMATs sent');

my %held;
my $churn_ok = 1;
my $suffix_ok = 1;
my @last_known;

for my $c (qw/ a b /) {
	my $u = fault_updates("$kdir/churn-$c");
	my @order = @{$u->{order}};
	my @replies = @{$u->{replies}};

	$churn_ok = 0 unless @order == 4000 && @replies == 4000
		&& !$u->{failures};

	for my $i (0 .. $#order) {
		my $id = $order[$i];
		$churn_ok = 0 unless ($replies[$i] // '')
			=~ /^AT Churn [+-]\d+\.\d{9} \Q$id\E \+1-1 \Q$u->{sent}{$id}\E\n\z/;
	}

	my $known = fault_lookup($churn, \@order, chunk => 1000);

	# least recently updated first out: what is held of one connection's
	# clients is its newest ones, each with its own AT line
	my $seen = 0;
	for my $i (0 .. $#order) {
		my $id = $order[$i];
		my $line = $known->{$id} // '';
		if ($line =~ /^AT /) {
			$seen = 1;
			$suffix_ok = 0 unless $line eq $replies[$i];
			$held{$id} = $u->{sent}{$id};
		} else {
			$suffix_ok = 0 if $seen || $line ne "? WHATSAT $id 10 5\n";
		}
	}

	push @last_known, ($known->{$order[-1]} // '') =~ /^AT / ? 1 : 0;
}

ok($churn_ok, 'churn: every IAMAT answered with its own AT line, no '
	. 'connection failed');
ok($suffix_ok, 'churn: of each connection\'s clients, the newest are held '
	. '(with their AT lines), the older evicted');
ok(grep({ $_ } @last_known), 'churn: the last client updated is known');
cmp_ok(scalar keys %held, '>=', 100, 'churn: the zone held '
	. scalar(keys %held) . ' clients at the end');
cmp_ok(scalar keys %held, '<', 8000, 'churn: it did evict');

is(herd_raw($churn, "HERD 1 Ghost\n", timeout => 10),
	"DIGEST 1 Churn " . fault_digest(\%held) . "\n",
	'churn: the zone\'s digests are those of the records it holds');
like(read_text("$kdir/error.log"), qr/\[warn\].*herd_zone "churn" is full/,
	'churn: evictions logged');

###############################################################################

# kill -9 of workers in the middle of a stream of updates: four
# connections, each sending IAMATs for its own 1500 clients over and over
# (new clients at first, then newer locations of known ones)

my %pre;
{
	my $time = 1650000000;
	my @ids = map { "pre-$_" } 1 .. 500;
	my $replies = fault_talk($kill,
		join('', map { $time++; "IAMAT $_ +5-5 $time.75\n" } @ids),
		chunks => [65536, 65536], timeout => 30) // '';
	my @at = $replies =~ /([^\n]*\n)/g;
	@pre{@ids} = @at;
}

is(scalar(grep { /^AT Kill / } values %pre), 500, 'kill: 500 records stored '
	. 'before the kills');

my @universe = (sort(keys %pre), map { my $u = $_; map { "u$u-$_" } 0 .. 1499 }
	1 .. 4);

sub updaters {
	my ($phase, $start) = @_;
	unlink "$kdir/upd-stop";
	return map {
		fault_updater(addr => $kill, file => "$kdir/upd-$phase-$_",
			prefix => "u$_", ids => 1500, stop => "$kdir/upd-stop",
			seconds => 300, batch => 10, pause => 0.01,
			start => $start + $_ * 10_000_000)
	} 1 .. 4;
}

sub stop_updaters {
	my ($updaters) = @_;
	open my $stop, '>', "$kdir/upd-stop";
	close $stop;
	return fault_wait($updaters, timeout => 60);
}

# replies received so far
sub progress {
	my ($phase) = @_;
	my $n = 0;
	for my $i (1 .. 4) {
		$n += () = read_text("$kdir/upd-$phase-$i") =~ /^R /mg;
	}
	return $n;
}

sub probes {
	my ($tag) = @_;
	my $n = 0;
	for my $i (1 .. 20) {
		$n++ if (herd_chat($kill, "IAMAT probe-$tag-$i +6-6 1690000000.$i")
			// '') =~ /^AT Kill \S+ probe-$tag-$i \+6-6 1690000000\.$i\n\z/;
		push @universe, "probe-$tag-$i";
	}
	return $n;
}

# the zone's own digests, and those of what it answers for every client
sub digests {
	my $now = fault_lookup($kill, \@universe, chunk => 1000, timeout => 60);
	my %held = map { $_ => ($now->{$_} =~ /(\S+)\n\z/)[0] }
		grep { ($now->{$_} // '') =~ /^AT / } keys %$now;
	my $zone = herd_raw($kill, "HERD 1 Ghost\n", timeout => 10) // '';
	return ($zone, "DIGEST 1 Kill " . fault_digest(\%held) . "\n", $now);
}

my @updaters = updaters(1, 1700000000);

ok(wait_for(sub { progress(1) >= 400 }, timeout => 30, interval => 0.2),
	'kill: updates flowing from 4 connections');

my (@killed, @respawned);
my $deadlock = 0;

for my $round (1 .. 3) {
	my @w = fault_wait_workers($k, 2, timeout => 30);
	last unless @w;

	my $victim = $w[$round % 2];
	kill 'KILL', $victim;
	push @killed, $victim;

	my @now = fault_wait_workers($k, 2, not => [$victim], timeout => 30);
	push @respawned, grep { my $p = $_; !grep { $_ == $p } @w } @now;

	my $p = progress(1);
	$deadlock++ unless wait_for(sub { progress(1) >= $p + 200 },
		timeout => 30, interval => 0.2);

	sleep(rand 0.5);
}

is(scalar @respawned, 3, 'kill: 3 workers killed at random, 3 respawned');
is($deadlock, 0, 'kill: after each kill, updates went on');
is(probes('a'), 20, 'kill: 20 fresh clients answered after the kills');

ok(stop_updaters(\@updaters), 'kill: the updaters stopped');

my $u1 = { sent => {}, times => {}, at => {} };
my $failures = 0;

for my $i (1 .. 4) {
	my $u = fault_updates("$kdir/upd-1-$i");
	%{$u1->{$_}} = (%{$u1->{$_}}, %{$u->{$_}}) for qw/ sent times at /;
	$failures += $u->{failures};
}

diag('kill: ' . (scalar map { keys %$_ } values %{$u1->{times}})
	. ' IAMATs sent, ' . progress(1) . " answered, $failures connections "
	. 'lost');

is_deeply(fault_lookup($kill, [ sort keys %pre ]), \%pre,
	'kill: every record stored before the kills answered byte for byte');

# every client: the AT line of its newest answered IAMAT, or that of a
# newer one the kill cut off (stored whole, or not at all)

my $now = fault_lookup($kill, [ sort keys %{$u1->{sent}} ], chunk => 1000,
	timeout => 60);
my (@lost, @odd);

for my $id (sort keys %{$u1->{sent}}) {
	my $line = $now->{$id} // '';
	my $at = $u1->{at}{$id};
	my ($got) = $line =~ /^AT Kill [+-]\d+\.\d{9} \Q$id\E \+1-1 (\S+)\n\z/;
	my ($ans) = defined $at ? $at =~ /(\S+)\n\z/ : ();

	if (!defined $got) {
		push @lost, $id if defined $at || $line ne "? WHATSAT $id 10 5\n";
	} elsif (!$u1->{times}{$id}{$got}) {
		push @odd, $id;
	} elsif (defined $ans && $got eq $ans) {
		push @odd, $id unless $line eq $at;
	} elsif (defined $ans && ($got =~ /^(\d+)/)[0] < ($ans =~ /^(\d+)/)[0]) {
		push @lost, $id;
	}
}

is(scalar @lost, 0, 'kill: every client whose IAMAT was answered is known '
	. '(' . scalar(keys %{$u1->{sent}}) . ' clients)')
	or diag(explain([ map { [ $_, $u1->{at}{$_}, $now->{$_} ] }
		@lost[0 .. ($#lost < 2 ? $#lost : 2)] ]));
is(scalar @odd, 0, 'kill: with the AT line of its newest answered IAMAT, '
	. 'or of a newer one cut off by a kill, byte for byte')
	or diag(explain([ map { [ $_, $u1->{at}{$_}, $now->{$_} ] }
		@odd[0 .. ($#odd < 2 ? $#odd : 2)] ]));

my %post;
{
	my $time = 1750000000;
	my @ids = map { "post-$_" } 1 .. 300;
	my $replies = fault_talk($kill,
		join('', map { $time++; "IAMAT $_ +7-7 $time\n" } @ids),
		chunks => [65536, 65536], timeout => 30) // '';
	my @at = $replies =~ /([^\n]*\n)/g;
	@post{@ids} = @at;
	push @universe, @ids;
}

is(scalar(grep { /^AT Kill / } values %post), 300,
	'kill: 300 new IAMATs answered after the kills');
is_deeply(fault_lookup($kill, [ sort keys %post ]), \%post,
	'kill: and their records answered byte for byte');

my ($zone, $held) = digests();
is($zone, $held, 'kill: the zone\'s digests are exactly those of the records '
	. 'it answers');

# killed while it holds the zone's mutex, in the middle of a change: nginx
# unlocks the zone (and logs it); whatever the change was, the service
# goes on: nothing deadlocks, no worker crashes, every client is answered
# and can send a newer location

@updaters = updaters(2, 1800000000);

ok(wait_for(sub { progress(2) >= 400 }, timeout => 30, interval => 0.2),
	'kill: updates flowing again, now of known clients');

my @locked;
my $why = '';

for my $round (1 .. 3) {
	my ($pid, $tries, $no) = fault_kill_locked($k, zone_size => $KILL_ZONE,
		timeout => 60);

	unless ($pid) {
		$why = $no;
		last;
	}

	push @locked, $pid;
	push @killed, $pid;

	fault_wait_workers($k, 2, not => [$pid], timeout => 30);

	my $p = progress(2);
	$deadlock++ unless wait_for(sub { progress(2) >= $p + 200 },
		timeout => 30, interval => 0.2);
}

SKIP: {
	skip "could not catch a worker holding the zone mutex: $why", 5
		unless @locked;

	is($deadlock, 0, 'kill: ' . scalar(@locked) . ' workers killed while '
		. 'they held the zone mutex, updates went on');
	is(probes('b'), 20, 'kill: fresh clients answered');

	ok(stop_updaters(\@updaters), 'kill: the updaters stopped again');

	my $all = fault_lookup($kill, \@universe, chunk => 1000, timeout => 60);
	is(scalar(grep { ($all->{$_} // '') =~ /^(?:AT Kill \S+ \Q$_\E |\? WHATSAT \Q$_\E 10 5\n\z)/ }
		@universe), scalar @universe, 'kill: every client answered');

	my @ids = grep { /^u/ } @universe;
	my $i = 0;
	my $r = fault_talk($kill, join('', map { $i++;
		"IAMAT $_ +9-9 " . (1900000000 + $i) . "\n" } @ids),
		chunks => [65536, 65536], timeout => 60) // '';
	is(scalar(() = $r =~ /^AT Kill /mg), scalar @ids,
		'kill: every updated client can send a newer location');
}

stop_updaters(\@updaters);

# the master's log: the kills, and nothing else

my $mlog = read_text("$kdir/master.log");
my %killed = map { $_ => 1 } @killed;
my %locked = map { $_ => 1 } @locked;

is(scalar(grep { $mlog =~ /\[alert\] \d+#\d+: worker process $_ exited on signal 9/ }
	@killed), scalar @killed,
	'master.log: each killed worker logged as exited on signal 9');

my @other = grep {
	!(/\[alert\] \d+#\d+: worker process (\d+) exited on signal 9$/
		&& $killed{$1})
	&& !(/\[alert\] \d+#\d+: shared memory zone "kill" was locked by (\d+)$/
		&& $killed{$1})
} $mlog =~ /^.*\[(?:alert|crit|emerg)\].*$/mg;

is(join("\n", @other), '', 'master.log: no other alert, crit or emerg');

SKIP: {
	skip 'no worker was killed holding the mutex', 1 unless @locked;
	is(scalar(grep { $mlog =~ /shared memory zone "kill" was locked by $_$/m }
		@locked), scalar @locked,
		'master.log: the zone mutex of each worker killed holding it released');
}

is(join("\n", $mlog =~ /^.*Sanitizer.*$/mg), '',
	'master.log: no sanitizer errors');

unlike(read_text("$kdir/error.log"), qr/\[(?:crit|emerg)\]|herd_zone "kill" is full/,
	'kill: no crit or emerg while serving, nothing evicted');

###############################################################################

# the trickler's outcome

ok(fault_wait([ $trickler ], timeout => 60), 'slow client: done');

my $slow_r = eval { decode_json(read_text("$dir/slow.json")) } // {};

is($slow_r->{early}, '', 'slow client: nothing answered before its line was '
	. 'complete');
like($slow_r->{reply} // '', qr/^AT Slow \S+ s \+1-1 1\n\z/,
	'slow client: its IAMAT answered once complete');
is($slow_r->{more}, ($slow_r->{reply} // '') . herd_no_key_json() . "\n\n",
	'slow client: the connection then works at normal speed');
unlike(read_text("$dir/error.log"), qr/herd Slow: session closed: client timed out/,
	'slow client: never taken for idle');

###############################################################################

# 10,000 concurrent idle clients

SKIP: {
	skip "RLIMIT_NOFILE is $soft (hard $hard): 10,000 idle connections "
		. "need " . ($IDLE + 500) . " here and " . ($IDLE + 1000)
		. " in nginx", 8 unless $can_idle;

	my ($worker) = fault_workers($t);
	my $base = fault_fds($worker);

	my @idle;
	my $refused = 0;

	# in batches, each accepted before the next: a full listen queue
	# would only slow the connects down (SYNs dropped and sent again)

	while (@idle < $IDLE && $refused <= 10) {
		for (1 .. 500) {
			my $c = IO::Socket::INET->new(Proto => 'tcp',
				PeerAddr => $idle);
			if ($c) {
				push @idle, $c;
			} else {
				$refused++;
			}
		}

		my $n = @idle;
		wait_for(sub { fault_fds($worker) >= $base + $n }, timeout => 30,
			interval => 0.02);
	}

	is(scalar @idle, $IDLE, "10,000 idle clients connected");

	ok(wait_for(sub { fault_fds($worker) >= $base + $IDLE }, timeout => 60),
		'10,000 idle clients: the worker holds them all');

	($at, $r) = ask($idle, 'newcomer');
	is($r, $at . herd_no_key_json() . "\n\n",
		'10,000 idle clients: a new client is answered');

	my $poll = IO::Poll->new();
	$poll->mask($_ => POLLIN) for @idle;
	$poll->poll(1);
	is(scalar $poll->handles(POLLIN | POLLHUP | POLLERR), 0,
		'10,000 idle clients: none was closed or sent anything');

	# every one still served

	local $SIG{PIPE} = 'IGNORE';

	my %fd = map { fileno($idle[$_]) => $_ } 0 .. $#idle;
	my @buf = ('') x @idle;
	my $written = 0;

	for my $i (0 .. $#idle) {
		$written++ if syswrite($idle[$i], "IAMAT idle-$i +8-8 1600000000\n");
		$idle[$i]->blocking(0);
	}

	my $done = 0;
	my $deadline = time() + 60;

	while ($done < @idle && time() < $deadline) {
		$poll->poll(1);
		for my $h ($poll->handles(POLLIN | POLLHUP | POLLERR)) {
			my $i = $fd{fileno $h};
			my $n = sysread($h, $buf[$i], 1024, length $buf[$i]);
			if (!$n || $buf[$i] =~ /\n/) {
				$poll->remove($h);
				$done++;
			}
		}
	}

	is(scalar(grep { $buf[$_] =~ /^AT Idle \S+ idle-$_ \+8-8 1600000000\n\z/ }
		0 .. $#idle), $IDLE, '10,000 idle clients: each answered when '
		. "it spoke ($written written)");

	# all closed by the clients: the worker lets go of every one

	close $_ for @idle;
	undef @idle;

	ok(wait_for(sub { fault_fds($worker) <= $base + 5 }, timeout => 60),
		'10,000 idle clients closed: the worker closed them all');

	($at, $r) = ask($idle, 'after.idle');
	is($r, $at . herd_no_key_json() . "\n\n",
		'10,000 idle clients gone: a new client is answered');

	unlike(read_text("$dir/error.log"), qr/worker_connections are not enough|Too many open files/,
		'10,000 idle clients: no connection refused for lack of resources');
}

###############################################################################

# the fakes first (the herd has no call in flight by now)

fault_reap($fake, timeout => 10);
unlink go_file($_) for qw/ mid huge /;

$k->stop();
$t->stop();

###############################################################################
