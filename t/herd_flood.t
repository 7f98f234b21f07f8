#!/usr/bin/perl

# Tests for the herd stream module: flooding over peer links between five
# separate herd servers, the Goloman graph of PROTOCOL.md section 11
# (sections 8 and 11; issue 4): an IAMAT anywhere is seen everywhere, byte
# for byte; an older update never wins; concurrent updates converge to the
# newest; each update crosses each link direction at most once; clients
# cannot inject AT lines or pose as peers; a reload loses nothing.

###############################################################################

use warnings;
use strict;

use Test::More;

use Test::Nginx;
use Test::Nginx::Stream qw/ stream /;
use Herd::Util;
use Herd::Herd;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

# Goloman 8170, Hands 8171, Holiday 8172, Welsh 8173, Wilkes 8174
my $t = herd_goloman(8170);

my @names = herd_names();
my @edges = herd_edges();
my %edge = map { ("$_->[0] $_->[1]" => 1) } @edges;

$t->{$_}->run() for @names;

# every object adds its own 2 ("no alerts", "no sanitizer errors")
$t->{Goloman}->plan(54 + 2 * (@names - 1));

###############################################################################

my $loc = '+34.068930-118.445127';
my $re_diff = qr/[+-]\d+\.\d{9}/;

sub all_of {
	my ($line, @which) = @_;
	@which = @names unless @which;
	return { map { $_ => $line } @which };
}

ok(herd_links_up($t), 'all links of the five servers are up');

# an IAMAT at Goloman, seen 3 hops away and everywhere, byte for byte

my $kiwi_time = herd_time();
my $at = herd_iamat($t->{Goloman}, 'kiwi.cs.ucla.edu', $loc, $kiwi_time);
like($at, qr/^AT Goloman $re_diff kiwi\.cs\.ucla\.edu \Q$loc $kiwi_time\E\n\z/,
	'IAMAT at Goloman answered');

is(herd_wait_lines($t, ['Welsh'], 'kiwi.cs.ucla.edu', $at)->{Welsh}, $at,
	'WHATSAT at Welsh (3 hops) answers Goloman\'s AT line byte for byte');

is_deeply(herd_wait_lines($t, \@names, 'kiwi.cs.ucla.edu', $at), all_of($at),
	'every server answers Goloman\'s AT line');

# bounded messages: each link direction carries the update at most once

{
	(my $line = $at) =~ s/\n\z//;
	my @others = grep { $_ ne 'Goloman' } @names;

	wait_for(sub {
		(grep { $_->{status} eq 'stored' } herd_updates($t, $line))
			>= @others
	});

	# flooding to every neighbour but the sender: 2 * 6 edges - 4 = 8
	# messages; wait for them, then give stragglers a moment more (the
	# assertions below are upper bounds)
	wait_for(sub { herd_updates($t, $line) >= @edges - @others },
		timeout => 3);
	select undef, undef, undef, 0.5;

	my @u = herd_updates($t, $line);

	is_deeply([ sort map { $_->{to} } grep { $_->{status} eq 'stored' } @u ],
		\@others, 'the update is stored once at every other server');

	cmp_ok(scalar @u, '<=', scalar @edges,
		'no more update messages than directed edges');

	my %n;
	$n{"$_->{from} $_->{to}"}++ for @u;

	is_deeply([ sort grep { $n{$_} > 1 } keys %n ], [],
		'no link direction carried the update twice');

	is_deeply([ sort grep { !$edge{$_} } keys %n ], [],
		'updates only over configured links');
}

# an IAMAT at Welsh reaches Hands (3 hops the other way)

my $w_time = herd_time();
my $at_w = herd_iamat($t->{Welsh}, 'welsh.client', '-33.9+151.2', $w_time);
like($at_w, qr/^AT Welsh $re_diff welsh\.client -33\.9\+151\.2 \Q$w_time\E\n\z/,
	'IAMAT at Welsh answered');

is(herd_wait_lines($t, ['Hands'], 'welsh.client', $at_w)->{Hands}, $at_w,
	'an IAMAT at Welsh reaches Hands');

# an older update arriving after a newer one never wins

my $old_time = herd_time();
my $new_time = herd_time();

my $new = herd_iamat($t->{Hands}, 'sheep', '+10-10', $new_time);
like($new, qr/^AT Hands $re_diff sheep \+10-10 \Q$new_time\E\n\z/,
	'newer IAMAT at Hands answered');

is_deeply(herd_wait_lines($t, \@names, 'sheep', $new), all_of($new),
	'the newer location is everywhere');

my $older = herd_iamat($t->{Welsh}, 'sheep', '+20-20', $old_time);
like($older, qr/^AT Welsh $re_diff sheep \+20-20 \Q$old_time\E\n\z/,
	'an older IAMAT at Welsh is still answered with Welsh\'s own AT line');

# positive evidence that Welsh's floods had their chance: a later update
# from Welsh reached every server

my $b1 = herd_iamat($t->{Welsh}, 'barrier.1', '+1+1', herd_time());
is_deeply(herd_wait_lines($t, \@names, 'barrier.1', $b1), all_of($b1),
	'a later IAMAT at Welsh reached every server');

is_deeply(herd_lines($t, \@names, 'sheep'), all_of($new),
	'every server still has the newer location');

{
	(my $line = $older) =~ s/\n\z//;
	is(scalar(herd_updates($t, $line)), 0,
		'the older update was not flooded at all');
}

# the same through a peer link: a neighbour relays an older record

{
	my $s = stream(herd_addr($t->{Hands}));
	$s->write("HERD 1 Goloman\n");

	like(herd_line($s, timeout => 5), qr/^DIGEST 1 Hands [0-9a-f]{4096}\n\z/,
		'a configured neighbour\'s greeting is answered with the digests');

	my $stale = "AT Goloman +0.000000001 sheep +30-30 $old_time";
	my $lamb = 'AT Goloman +0.000000001 lamb +40-40 ' . herd_time();

	$s->write("$stale\n$lamb\n");

	is_deeply(herd_wait_lines($t, \@names, 'lamb', "$lamb\n"),
		all_of("$lamb\n"),
		'a relayed update from the neighbour reached every server');

	is_deeply(herd_lines($t, \@names, 'sheep'), all_of($new),
		'an older relayed record did not replace the newer one');

	is_deeply([ map { "$_->{to} $_->{status}" } herd_updates($t, $stale) ],
		[ 'Hands not newer' ], 'the older relayed record stopped at Hands');

	undef $s;
}

# concurrent updates for one client at different servers converge to the
# newest, with each AT line crossing each link direction at most once

for my $round (1 .. 3) {
	my $client = "goat.$round";

	# the newest at Welsh, then at Hands, then at Goloman; written to
	# the five servers back to back, newest in the middle
	my @order = @{ ([qw/ Goloman Hands Holiday Wilkes Welsh /],
		[qw/ Welsh Goloman Holiday Wilkes Hands /],
		[qw/ Hands Welsh Holiday Wilkes Goloman /])[$round - 1] };
	my %time = map { $order[$_] => herd_time() } 0 .. 4;
	my $newest = $order[4];
	my @write = @order[0, 1, 4, 2, 3];

	my %s = map { $_ => stream(herd_addr($t->{$_})) } @write;
	$s{$_}->write("IAMAT $client +$round-$round $time{$_}\n") for @write;
	my %reply = map { $_ => herd_line($s{$_}, timeout => 5) } @write;
	undef %s;

	is(scalar(grep { ($reply{$_} // '')
			=~ /^AT $_ $re_diff \Q$client\E \S+ \Q$time{$_}\E\n\z/ }
		@names), 5, "round $round: every server answered its IAMAT");

	is_deeply(herd_wait_lines($t, \@names, $client, $reply{$newest}),
		all_of($reply{$newest}),
		"round $round: every server ends with the newest ($newest)");

	select undef, undef, undef, 0.5;

	my %n;
	for my $name (@names) {
		(my $line = $reply{$name} // '') =~ s/\n\z//;
		$n{"$_->{from} $_->{to} $line"}++ for herd_updates($t, $line);
	}

	is_deeply([ sort grep { $n{$_} > 1 } keys %n ], [],
		"round $round: no AT line crossed a link direction twice");
}

# many concurrent updates: 200 IAMATs for 10 clients, 40 pipelined at each
# server at once, times shuffled; every server ends with each client's
# newest line, and no AT line crosses a link direction twice

{
	my @times = map { herd_time() } 1 .. 200;
	my (%data, %sent, %newest);

	for my $k (0 .. 199) {
		my $name = $names[$k % 5];
		my $client = 'storm.' . ($k % 10);
		my $time = $times[($k * 73) % 200];

		$data{$name} .= "IAMAT $client +1.$k-2.$k $time\n";
		push @{$sent{$name}}, [ $client, $time ];
	}

	my %s = map { $_ => stream(herd_addr($t->{$_})) } @names;
	$s{$_}->write($data{$_}) for @names;

	my %bad;
	for my $name (@names) {
		for my $c (@{$sent{$name}}) {
			my $r = herd_line($s{$name}, timeout => 5) // '';
			$bad{$name}++ unless $r =~ /^AT $name \S+ \Q$c->[0]\E \S+ \Q$c->[1]\E\n\z/;
			$newest{$c->[0]} = [ $c->[1], $r ]
				if !$newest{$c->[0]} || $newest{$c->[0]}[0] lt $c->[1];
		}
	}
	undef %s;

	is_deeply(\%bad, {}, 'storm: all 200 IAMATs answered');

	my %want = map { $_ => $newest{$_}[1] } keys %newest;
	my %got;
	wait_for(sub {
		%got = map { $_ => herd_lookup_many($t->{$_}, [ sort keys %want ]) }
			@names;
		!grep { my $n = $_; grep { ($got{$n}{$_} // '') ne $want{$_} }
			keys %want } @names;
	}, timeout => 20, interval => 0.2);

	is_deeply(\%got, { map { $_ => \%want } @names },
		'storm: every server ends with the newest line of each client');

	select undef, undef, undef, 0.5;

	my %n;
	for my $name (@names) {
		my $log = herd_log($t->{$name});
		while ($log =~ /herd (\S+): update from peer "([^"]*)" (?:stored|not newer):? "(AT \S+ \S+ storm\.[^"]*)"/g) {
			$n{"$2 $1 $3"}++;
		}
	}

	is_deeply([ sort grep { $n{$_} > 1 } keys %n ], [],
		'storm: no AT line crossed a link direction twice');
}

# a client cannot inject an AT line, nor pose as a peer

is(herd_chat(herd_addr($t->{Goloman}), 'AT Goloman +0.1 evil +1+1 1'),
	"? AT Goloman +0.1 evil +1+1 1\n", 'a client\'s AT line is refused');

like(herd_chat(herd_addr($t->{Hands}),
		"IAMAT fair +1+1 " . herd_time(), 'AT Hands +0.1 evil +1+1 2'),
	qr/^AT Hands [^\n]*\n\? AT Hands \+0\.1 evil \+1\+1 2\n\z/,
	'an AT line after an IAMAT on a client session is refused');

is(herd_chat(herd_addr($t->{Goloman}), 'HERD 1 Mallory'),
	"? HERD 1 Mallory\n", 'a greeting from an unknown server is refused');

is(herd_chat(herd_addr($t->{Goloman}), 'HERD 1 Welsh'),
	"? HERD 1 Welsh\n", 'a greeting from a herd server that is not '
	. 'a neighbour is refused');

is(herd_chat(herd_addr($t->{Holiday}), 'HERD 1 Mallory',
		'AT Holiday +0.1 evil +1+1 3'),
	"? HERD 1 Mallory\n? AT Holiday +0.1 evil +1+1 3\n",
	'after a refused greeting, AT lines are refused too');

my $b2 = herd_iamat($t->{Goloman}, 'barrier.2', '+2+2', herd_time());
my $b3 = herd_iamat($t->{Holiday}, 'barrier.3', '+3+3', herd_time());
is_deeply([ herd_wait_lines($t, \@names, 'barrier.2', $b2),
		herd_wait_lines($t, \@names, 'barrier.3', $b3) ],
	[ all_of($b2), all_of($b3) ],
	'later IAMATs at Goloman and Holiday reached every server');

is_deeply(herd_lines($t, \@names, 'evil'),
	all_of("? WHATSAT evil 10 5\n"), 'no server knows the injected client');

# a reload of Holiday (the only way to Welsh) mid-run loses nothing

my @known = qw/ kiwi.cs.ucla.edu welsh.client sheep lamb goat.1 goat.2 goat.3 storm.0 storm.9
	barrier.1 barrier.2 barrier.3 /;
my $before = herd_lookup_many($t->{Holiday}, \@known);

my $r1 = herd_iamat($t->{Goloman}, 'reload.1', '+4+4', herd_time());
my $holiday_log = herd_offsets($t)->{Holiday};

ok(herd_reload($t->{Holiday}), 'Holiday reloaded');

my $r2 = herd_iamat($t->{Welsh}, 'reload.2', '+5+5', herd_time());
my $r3 = herd_iamat($t->{Goloman}, 'reload.3', '+6+6', herd_time());

is_deeply(herd_lookup_many($t->{Holiday}, \@known), $before,
	'Holiday still has every record after the reload');

is(scalar(grep { defined $before->{$_} && $before->{$_} =~ /^AT / } @known),
	scalar @known, 'and those were all known records');

is_deeply(herd_wait_lines($t, \@names, 'reload.1', $r1), all_of($r1),
	'an IAMAT at Goloman just before the reload reached every server');

is_deeply(herd_wait_lines($t, \@names, 'reload.2', $r2), all_of($r2),
	'an IAMAT at Welsh just after the reload reached every server');

is_deeply(herd_wait_lines($t, \@names, 'reload.3', $r3), all_of($r3),
	'an IAMAT at Goloman just after the reload reached every server');

my $r4 = herd_iamat($t->{Hands}, 'reload.4', '+7+7', herd_time());
is_deeply(herd_wait_lines($t, \@names, 'reload.4', $r4), all_of($r4),
	'a later IAMAT at Hands reached every server across Holiday');

ok(herd_links_up($t, from => { Holiday => $holiday_log }),
	'all links are up again, those of Holiday\'s new workers too');

my %digest = map { $_ => herd_digest($t->{$_}) } @names;
my ($hex) = ($digest{Goloman} // '') =~ /^DIGEST 1 Goloman ([0-9a-f]{4096})\n/;

is_deeply({ map { $_ => ($digest{$_} // '') =~ s/^DIGEST 1 \S+ //r } @names },
	all_of(($hex // 'none') . "\n"),
	'all five servers answer equal digests');

{
	my @all = (@known, map({ "storm.$_" } 0 .. 9), map({ "reload.$_" } 1 .. 4));
	my $g = herd_lookup_many($t->{Goloman}, \@all);

	is_deeply({ map { $_ => herd_lookup_many($t->{$_}, \@all) } @names },
		{ map { $_ => $g } @names },
		'all five servers hold the same ' . scalar(@all) . ' AT lines');
}

# a reload while clients are connected to the old workers: one that has
# sent nothing yet and one in the middle of a line; each is answered by
# the quitting worker, and what it stores still reaches every server

{
	my $from = length(eval { $t->{Hands}->read_file('error.log') } // '');
	my $fresh = stream(PeerAddr => herd_addr($t->{Hands}));
	my $partial = stream(PeerAddr => herd_addr($t->{Hands}));

	$partial->write('IAMAT quit.partial +8+8 ');

	# both sessions are open in the old workers before the reload
	wait_for(sub {
		my $log = eval { $t->{Hands}->read_file('error.log') } // '';
		my $n = () = substr($log, $from) =~ /session opened/g;
		return $n >= 2;
	});

	ok(herd_reload($t->{Hands}), 'Hands reloaded with two clients on');

	my $time = herd_time();
	$fresh->write("IAMAT quit.fresh +9+9 $time\n");
	$partial->write(herd_time() . "\n");

	my $f = herd_line($fresh, timeout => 10) // '';
	my $p = herd_line($partial, timeout => 10) // '';

	like($f, qr/^AT Hands $re_diff quit\.fresh \+9\+9 \Q$time\E\n\z/,
		'a client that had sent nothing before the reload is answered');
	like($p, qr/^AT Hands $re_diff quit\.partial \+8\+8 \d+\.\d{9}\n\z/,
		'a client in the middle of a line at the reload is answered');

	is_deeply(herd_wait_lines($t, \@names, 'quit.partial', $p), all_of($p),
		'what the quitting worker stored reached every server');
	is_deeply(herd_wait_lines($t, \@names, 'quit.fresh', $f), all_of($f),
		'both updates did');
}

###############################################################################
