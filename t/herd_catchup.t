#!/usr/bin/perl

# Tests for the herd stream module: catch-up over peer links between the
# five servers of the Goloman graph (PROTOCOL.md sections 8 and 11; issue 4).
# A server that was down learns what it missed, and so does the server
# behind it; a server restarted empty learns every record from its
# neighbours; a server cut off from the herd while both sides took updates
# converges both ways once reconnected; and when nothing is missing, a
# reconnect sends nothing.

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

# Goloman 8190, Hands 8191, Holiday 8192, Welsh 8193, Wilkes 8194
my $t = herd_goloman(8190);

my @names = herd_names();

$t->{$_}->run() for @names;

# every object adds its own 2 ("no alerts", "no sanitizer errors")
$t->{Goloman}->plan(31 + 2 * (@names - 1));

###############################################################################

sub all_of {
	my ($line, @which) = @_;
	@which = @names unless @which;
	return { map { $_ => $line } @which };
}

# wait until every server of @$which holds exactly the records of
# %$expect (client => AT line); returns { name => { client => line } }
sub wait_records {
	my ($herd, $which, $expect, %opts) = @_;
	my @clients = sort keys %$expect;
	my $want = join '', map { $expect->{$_} } @clients;
	my %last;

	wait_for(sub {
		my $all = 1;
		for my $name (@$which) {
			next if defined $last{$name} && join('', map {
				$last{$name}{$_} // "-\n" } @clients) eq $want;
			$last{$name} = herd_lookup_many($herd->{$name}, \@clients);
			$all = 0 unless join('', map { $last{$name}{$_} // "-\n" }
				@clients) eq $want;
		}
		return $all;
	}, timeout => $opts{timeout} // 30, interval => 0.2);

	return \%last;
}

sub digests {
	my ($herd) = @_;
	my %d = map { $_ => herd_digest($herd->{$_}) // '' } @names;
	s/^DIGEST 1 \S+ // for values %d;
	return \%d;
}

sub same_digests {
	my ($herd) = @_;
	my $d;
	wait_for(sub {
		$d = digests($herd);
		my %u = map { $_ => 1 } values %$d;
		return keys %u == 1 && $d->{Goloman} =~ /^[0-9a-f]{4096}\n\z/;
	}, timeout => 20, interval => 0.2);
	return $d;
}

ok(herd_links_up($t), 'all links of the five servers are up');

# stop Holiday, update at Goloman, start Holiday: Holiday and Welsh (behind
# it) both learn the update with no new IAMAT

my $seed = herd_iamat($t->{Goloman}, 'hol.client', '+1+1', herd_time());
is_deeply(herd_wait_lines($t, \@names, 'hol.client', $seed), all_of($seed),
	'an older line for the client is everywhere');

$t->{Holiday}->stop();

my $new = herd_iamat($t->{Goloman}, 'hol.client', '+2+2', herd_time());
like($new, qr/^AT Goloman \S+ hol\.client \+2\+2 /,
	'with Holiday down, a newer IAMAT at Goloman answered');

is_deeply(herd_wait_lines($t, [qw/ Hands Wilkes /], 'hol.client', $new),
	all_of($new, qw/ Hands Wilkes /), 'Hands and Wilkes have the newer line');

is(herd_at($t->{Welsh}, 'hol.client'), $seed,
	'Welsh, behind Holiday, still has the older line');

my $off = herd_offsets($t);
$t->{Holiday}->run();

is_deeply(herd_wait_lines($t, [qw/ Holiday Welsh /], 'hol.client', $new,
		timeout => 30),
	all_of($new, qw/ Holiday Welsh /),
	'Holiday, started again, and Welsh behind it learn the newer line');

{
	(my $line = $new) =~ s/\n\z//;
	my @u = herd_updates($t, $line, from => $off);
	ok((grep { $_->{to} eq 'Holiday' && $_->{status} eq 'stored' } @u)
		&& (grep { $_->{to} eq 'Welsh' && $_->{from} eq 'Holiday'
			&& $_->{status} eq 'stored' } @u),
		'Holiday got it from a neighbour, Welsh from Holiday');
}

ok(herd_links_up($t, timeout => 30), 'all links are up again');

# a server restarted empty learns all of 500 clients from its neighbours

my %expect = ('hol.client' => $new);

for my $i (0 .. $#names) {
	my $name = $names[$i];
	my @c = map { sprintf('client%03d.%s', $i * 100 + $_, lc $name) } 0 .. 99;
	my $time = herd_time();

	my $r = herd_raw(herd_addr($t->{$name}),
		join('', map { "IAMAT $_ +$i.5-$i.5 $time\n" } @c), timeout => 10);
	my @lines = ($r // '') =~ /([^\n]*\n)/g;

	$expect{$c[$_]} = $lines[$_] // "none\n" for 0 .. 99;
}

is(scalar(grep { /^AT / } values %expect), 501,
	'500 IAMATs, 100 at each server, answered');

my $got = wait_records($t, \@names, \%expect);
is_deeply($got, { map { $_ => \%expect } @names },
	'every server holds all 501 records');

for my $name (qw/ Wilkes Welsh /) {
	$off = herd_offsets($t);

	$t->{$name}->stop();
	$t->{$name}->run();

	is_deeply(wait_records($t, [$name], \%expect)->{$name}, \%expect,
		"$name, restarted empty, learns all 501 records from "
		. join(' and ', herd_peers($name)));

	# by its own links' pull, or by its neighbours' links' catch-up

	my @ups = grep { $_->{peer} eq $name } herd_link_ups($t, from => $off);
	my $pulled = grep {
		herd_log($t->{$_}, from => $off->{$_})
			=~ /peer "$name" asked for the records of [1-9]\d* buckets?/
	} herd_peers($name);

	ok($pulled || (grep { $_->{buckets} > 0 } @ups),
		"$name: records came over links that found buckets to catch up");
}

my $d = same_digests($t);
is_deeply($d, all_of($d->{Goloman}), 'all five servers answer equal digests');

# Goloman stopped, an update elsewhere meanwhile; Goloman started and updated
# at once (whether before or after its links are up): both ways converge

my @rest = grep { $_ ne 'Goloman' } @names;

$t->{Goloman}->stop();

my $q1 = herd_iamat($t->{Welsh}, 'q1', '+7+7', herd_time());
is_deeply(herd_wait_lines($t, \@rest, 'q1', $q1), all_of($q1, @rest),
	'with Goloman down, an IAMAT at Welsh reached the others');

$t->{Goloman}->run();

my $q2 = herd_iamat($t->{Goloman}, 'q2', '+8+8', herd_time());
$expect{q1} = $q1;
$expect{q2} = $q2;

is_deeply(wait_records($t, \@names, \%expect), { map { $_ => \%expect } @names },
	'Goloman restarted empty and updated at once: every server has every '
	. 'record, from both sides');

# a partition: Goloman cut off (reloaded without its herd_peer lines), both
# sides take updates meanwhile, then Goloman is reconnected

my %seed;
for my $c (qw/ pa pb pc pd /) {
	$seed{$c} = herd_iamat($t->{Hands}, $c, '+3+3', herd_time());
	$expect{$c} = $seed{$c};
}

is_deeply(wait_records($t, \@names, \%seed), { map { $_ => \%seed } @names },
	'partition: four clients seeded everywhere');

$off = herd_offsets($t);

$t->{Goloman}->write_file_expand('nginx.conf',
	herd_conf('Goloman', 8190, peers => []));
ok(herd_reload_wait($t->{Goloman}), 'Goloman reloaded without herd_peer lines');

ok(wait_for(sub {
	!grep { herd_log($t->{$_}, from => $off->{$_})
		!~ /peer refused the greeting.*peer: "Goloman"/ }
	herd_peers('Goloman')
}, timeout => 30), 'Goloman\'s neighbours are refused: Goloman is cut off');

my $pc_g = herd_time();
my $pc_h = herd_time();
my $pd_w = herd_time();
my $pd_g = herd_time();

my %side_g = (
	pa => herd_iamat($t->{Goloman}, 'pa', '+4+4', herd_time()),
	pc => herd_iamat($t->{Goloman}, 'pc', '+4+4', $pc_g),
	pd => herd_iamat($t->{Goloman}, 'pd', '+4+4', $pd_g),
	pe => herd_iamat($t->{Goloman}, 'pe', '+4+4', herd_time()),
);

my %side_h = (
	pb => herd_iamat($t->{Welsh}, 'pb', '+5+5', herd_time()),
	pc => herd_iamat($t->{Hands}, 'pc', '+5+5', $pc_h),
	pd => herd_iamat($t->{Wilkes}, 'pd', '+5+5', $pd_w),
	pf => herd_iamat($t->{Hands}, 'pf', '+5+5', herd_time()),
);

my @p = qw/ pa pb pc pd pe pf /;

# the rest of the herd: its own updates everywhere on its side
my %want_h = (%seed, %side_h, pe => "? WHATSAT pe 10 5\n");
is_deeply(wait_records($t, \@rest, \%want_h), { map { $_ => \%want_h } @rest },
	'partition: the rest of the herd has its own updates, not Goloman\'s');

# then, Goloman still has only its own
is_deeply(herd_lookup_many($t->{Goloman}, \@p), {
		%seed, %side_g, pb => $seed{pb}, pf => "? WHATSAT pf 10 5\n" },
	'partition: Goloman has its own updates, not the others\'');

$t->{Goloman}->write_file_expand('nginx.conf', herd_conf('Goloman', 8190));
ok(herd_reload_wait($t->{Goloman}), 'Goloman reloaded with its herd_peer lines');

%expect = (%expect, %side_h, %side_g, pc => $side_h{pc}, pd => $side_g{pd});

is_deeply(wait_records($t, \@names, \%expect), { map { $_ => \%expect } @names },
	'partition healed: every server has the newest line of every client, '
	. 'from both sides');

$d = same_digests($t);
is_deeply($d, all_of($d->{Goloman}), 'all five servers answer equal digests again');

# nothing is re-sent when nothing is missing

ok(herd_links_up($t, timeout => 30), 'all links are up');

$off = herd_offsets($t);
ok(herd_reload_wait($t->{Holiday}), 'Holiday reloaded');

# Holiday's new workers link to its 3 neighbours, and they link back to it
my @ups;
wait_for(sub {
	@ups = herd_link_ups($t, from => $off);
	(grep { $_->{at} eq 'Holiday' } @ups) >= 2 * 3
		&& (grep { $_->{peer} eq 'Holiday' } @ups) >= 2 * 3;
}, timeout => 30);

cmp_ok(scalar @ups, '>=', 12, 'the links of and to Holiday came up again');

is_deeply([ map { "$_->{at} -> $_->{peer}: $_->{buckets}" }
		grep { $_->{buckets} != 0 } @ups ], [],
	'every one logged "0 of 256 buckets to catch up"');

# positive evidence that anything re-sent had its chance to arrive
my $b = herd_iamat($t->{Welsh}, 'barrier', '+6+6', herd_time());
is_deeply(herd_wait_lines($t, \@names, 'barrier', $b), all_of($b),
	'a later IAMAT at Welsh reached every server');

{
	(my $line = $b) =~ s/\n\z//;
	my @sent;
	for my $name (@names) {
		my $log = herd_log($t->{$name}, from => $off->{$name});
		push @sent, map { "$name: $_" } grep { !/\Q$line\E/ }
			$log =~ /^.*(?:update from peer|catch-up sent).*$/mg;
	}
	is_deeply(\@sent, [], 'no record was re-sent over the new links');
}

###############################################################################
