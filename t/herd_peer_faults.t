#!/usr/bin/perl

# Tests for the herd stream module: fault injection between herd servers
# (issue 6, item 3).  What an operator would notice, never timings; every
# wait is generous and every loop bounded.
#
# Covered:
# - a neighbour flapping (stopped and started over and over, a few tenths
#   of a second each way) while updates flow into the servers on both of
#   its sides: afterwards all three converge on the same records (every
#   update, byte for byte, and equal digests), nothing is logged at alert,
#   and the private memory of the steady servers stays bounded;
# - a neighbour that takes the link, answers the greeting and then never
#   reads: flooding it with large updates fills the link's queue, the
#   link is dropped ("peer send queue is full") and connected again,
#   clients are answered throughout, memory stays bounded; when a real
#   server takes that neighbour's place, catch-up gives it every record.

###############################################################################

use warnings;
use strict;

use Test::More;
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

# Left 8280 - Flap 8281 - Right 8282: Flap is the one that flaps
# Hoard 8283 - Sink 8284: Sink first a fake that never reads, then real

my %PORT = (Left => 8280, Flap => 8281, Right => 8282, Hoard => 8283,
	Sink => 8284);

sub conf {
	my ($name, %o) = @_;

	my $peers = join '', map {
		"        herd_peer $_ 127.0.0.1:$PORT{$_};\n"
	} @{$o{peers}};

	my $extra = $o{extra} // '';
	my $zone = $o{zone} // '16m';

	return <<"EOF";

%%TEST_GLOBALS%%

daemon off;
worker_processes 2;

events {
}

stream {
    %%TEST_GLOBALS_STREAM%%

    herd_zone zone=$name:$zone;

    server {
        listen 127.0.0.1:$PORT{$name};
        herd $name zone=$name;

$peers
        $extra
        error_log %%TESTDIR%%/error.log notice;
    }
}

EOF
}

sub server {
	my ($name, %o) = @_;
	return Test::Nginx->new()->has(qw/stream/)
		->write_file_expand('nginx.conf', conf($name, %o));
}

my $t = server('Left', peers => [ 'Flap' ]);
my $flap = server('Flap', peers => [ 'Left', 'Right' ]);
my $right = server('Right', peers => [ 'Flap' ]);

my $hoard = server('Hoard', peers => [ 'Sink' ], zone => '8m',
	extra => "herd_max_line 64k;\n"
		. "        error_log %%TESTDIR%%/herd.log info;");

my $sink = server('Sink', peers => [ 'Hoard' ], zone => '16m',
	extra => 'herd_max_line 64k;');

my %addr = map { $_ => '127.0.0.1:' . port($PORT{$_}) } keys %PORT;

$_->run() for $t, $flap, $right;

# 5 nginx objects: each adds its own "no alerts" and "no sanitizer errors"
$t->plan(24 + 2 * 4);

###############################################################################

sub read_text {
	my ($path) = @_;
	open my $fh, '<', $path or return '';
	local $/;
	my $text = <$fh>;
	close $fh;
	return $text // '';
}

# the digest line of a server, asked as one of its configured neighbours
sub digest {
	my ($name, $as) = @_;
	my $d = herd_raw($addr{$name}, "HERD 1 $as\n", timeout => 10) // '';
	$d =~ s/^DIGEST 1 \Q$name\E // or return '';
	chomp $d;
	return $d;
}

sub stored_time {
	my ($line) = @_;
	return ($line // '') =~ /(\S+)\n\z/ ? $1 : '';
}

###############################################################################

# a neighbour flapping while updates flow

my $seed = herd_chat($addr{Left}, 'IAMAT seed +1+1 1600000000.5');

ok(wait_for(sub {
	(fault_lookup($addr{Right}, [ 'seed' ])->{seed} // '') eq $seed
}, timeout => 30, interval => 0.2), 'flap: Left, Flap and Right linked');

my %base = map { $_ => fault_anon_kb($_) } $t, $right;
my %peak = %base;

my $fdir = $t->testdir();

my @updaters = (
	fault_updater(addr => $addr{Left}, file => "$fdir/left", prefix => 'l',
		stop => "$fdir/stop", seconds => 120, batch => 10,
		pause => 0.02, location => '+2+2', start => 1700000000),
	fault_updater(addr => $addr{Right}, file => "$fdir/right",
		prefix => 'r', stop => "$fdir/stop", seconds => 120,
		batch => 10, pause => 0.02, location => '+3+3',
		start => 1700000000),
);

sub replies {
	my ($file) = @_;
	my $n = () = read_text($file) =~ /^R /mg;
	return $n;
}

ok(wait_for(sub { replies("$fdir/left") >= 100 && replies("$fdir/right") >= 100 },
	timeout => 30, interval => 0.2), 'flap: updates flowing into Left and Right');

my $flaps = 0;
my $deadline = time() + 8;

# at least 5 flaps however slow a stop and start are (valgrind, ASan)
while ($flaps < 15 && (time() < $deadline || $flaps < 5)
	&& time() < $deadline + 60)
{
	$flap->stop();
	sleep(0.1 + rand(0.2));
	$flap->run();
	sleep(0.1 + rand(0.2));
	$flaps++;

	for my $s ($t, $right) {
		my $kb = fault_anon_kb($s);
		$peak{$s} = $kb if $kb > $peak{$s};
	}
}

cmp_ok($flaps, '>=', 5, "flap: Flap stopped and started $flaps times");

my $during = replies("$fdir/left") + replies("$fdir/right");
ok(wait_for(sub { replies("$fdir/left") + replies("$fdir/right") >= $during + 100 },
	timeout => 30, interval => 0.2), 'flap: updates still flowing after it');

open my $stop, '>', "$fdir/stop";
close $stop;

ok(fault_wait(\@updaters, timeout => 60), 'flap: the updaters stopped');

my $ul = fault_updates("$fdir/left");
my $ur = fault_updates("$fdir/right");

is($ul->{failures} + $ur->{failures}, 0,
	'flap: no client connection of Left or Right failed');
is(scalar(keys %{$ul->{at}}) + scalar(keys %{$ur->{at}}),
	scalar(keys %{$ul->{sent}}) + scalar(keys %{$ur->{sent}}),
	'flap: every IAMAT was answered ('
	. (scalar(keys %{$ul->{sent}}) + scalar(keys %{$ur->{sent}})) . ')');

# all three converge on the same records: those IAMATs and the seed

my %all = (%{$ul->{sent}}, %{$ur->{sent}}, seed => '1600000000.5');
my $want = fault_digest(\%all);

my %d;
ok(wait_for(sub {
	%d = (Left => digest('Left', 'Flap'), Flap => digest('Flap', 'Left'),
		Right => digest('Right', 'Flap'));
	!grep { $_ ne $want } values %d;
}, timeout => 90, interval => 0.5),
	'flap: Left, Flap and Right converged on every record (digests)')
	or diag(explain({ map { $_ => ($d{$_} eq $want ? 'ok' : 'differs') }
		keys %d }));

my %at = (%{$ul->{at}}, %{$ur->{at}}, seed => $seed);
my @sample = (grep({ rand() < 0.1 } sort keys %at), 'seed');

for my $name (qw/ Left Flap Right /) {
	my $got = fault_lookup($addr{$name}, \@sample, chunk => 1000);
	my @bad = grep { ($got->{$_} // '') ne $at{$_} } @sample;
	is(scalar @bad, 0, "flap: $name answers " . scalar(@sample)
		. ' sampled clients with their AT lines, byte for byte');
}

for my $s ($t, $right) {
	my $kb = fault_anon_kb($s);
	$peak{$s} = $kb if $kb > $peak{$s};
}

cmp_ok($peak{$t} - $base{$t}, '<', 16 * 1024, 'flap: Left\'s private memory '
	. "grew by less than 16 MB ($base{$t} kB, at most $peak{$t} kB)");
cmp_ok($peak{$right} - $base{$right}, '<', 16 * 1024, 'flap: Right\'s private '
	. "memory grew by less than 16 MB ($base{$right} kB, at most "
	. "$peak{$right} kB)");

$_->stop() for $t, $flap, $right;

###############################################################################

# a neighbour that never reads

my $hdir = $hoard->testdir();

my $fake = fault_sink(port => port($PORT{Sink}), name => 'Sink',
	file => "$hdir/sink.log", max => 64);

$hoard->run();

sub greetings {
	my $n = () = read_text("$hdir/sink.log") =~ /^A HERD 1 Hoard$/mg;
	return $n;
}

sub hoard_log {
	return read_text("$hdir/herd.log");
}

ok(wait_for(sub { greetings() >= 2 && (() = hoard_log() =~ /peer link up/g) >= 2 },
	timeout => 30, interval => 0.2), 'sink: both workers of Hoard linked to '
	. 'the fake');

my $hbase = fault_anon_kb($hoard);
my $hpeak = $hbase;

my @c = map { stream($addr{Hoard}) } 1 .. 4;
my (%big, $answered, $probes);
my $N = 400;

for my $i (1 .. $N) {
	my $id = "big-$i-" . ('x' x 30000);
	my $time = 1700000000 + $i;
	my $s = $c[$i % 4];

	$s->write("IAMAT $id +4+4 $time\n");
	my $r = herd_line($s, timeout => 20) // '';

	if ($r =~ /^AT Hoard [+-]\d+\.\d{9} \Q$id\E \+4\+4 $time\n\z/) {
		$answered++;
		$big{$id} = $r;
	}

	if ($i % 50 == 0) {
		$probes++ if (herd_chat($addr{Hoard}, "IAMAT probe-$i +5+5 1600000000")
			// '') =~ /^AT Hoard \S+ probe-$i /;

		my $kb = fault_anon_kb($hoard);
		$hpeak = $kb if $kb > $hpeak;
	}
}

undef @c;

is($answered, $N, "sink: $N IAMATs of 30 KB each answered");
is($probes, $N / 50, 'sink: other clients answered throughout');

like(hoard_log(), qr/\[warn\].*herd Hoard: peer send queue is full, reconnecting to catch up/,
	'sink: the link\'s queue filled up, the link was dropped');

my $before = greetings();
ok(wait_for(sub { greetings() > 2 }, timeout => 30, interval => 0.2),
	'sink: and connected again (' . greetings() . ' greetings)');

my $kb = fault_anon_kb($hoard);
$hpeak = $kb if $kb > $hpeak;

cmp_ok($hpeak - $hbase, '<', 16 * 1024, 'sink: Hoard\'s private memory grew '
	. "by less than 16 MB ($hbase kB, at most $hpeak kB)");

# a real server in the fake's place: catch-up repairs

fault_reap($fake, timeout => 10);
$sink->run();

my ($dh, $ds);
ok(wait_for(sub {
	$dh = digest('Hoard', 'Sink');
	$ds = digest('Sink', 'Hoard');
	$dh ne '' && $dh ne '0' x 4096 && $ds eq $dh;
}, timeout => 90, interval => 0.5),
	'sink: the real server, started empty, caught up with every record');

my @probes = map { "probe-$_" } grep { $_ % 50 == 0 } 1 .. $N;
my @ids = (sort(keys %big), @probes);

my $at_h = fault_lookup($addr{Hoard}, \@ids, chunk => 50, timeout => 60);
my $at_s = fault_lookup($addr{Sink}, \@ids, chunk => 50, timeout => 60);

my @kept = grep { ($at_h->{$_} // '') =~ /^AT / } sort keys %big;
cmp_ok(scalar @kept, '>=', 100, 'sink: Hoard holds ' . scalar(@kept)
	. ' of the large records (the others evicted)');
is(scalar(grep { ($at_h->{$_} // '') ne $big{$_} } @kept), 0,
	'sink: Hoard answers each with its AT line');
is_deeply($at_s, $at_h, 'sink: the real server answers every client as '
	. 'Hoard does, byte for byte');

my %held = map { $_ => stored_time($at_h->{$_}) }
	grep { ($at_h->{$_} // '') =~ /^AT / } @ids;
is($dh, fault_digest(\%held), 'sink: the digests are those of the records held');

$sink->stop();
$hoard->stop();

###############################################################################
