#!/usr/bin/perl

# Tests for the herd stream module: the five servers of the Goloman graph
# (PROTOCOL.md sections 8 and 11; issue 4), stopping every one of the 10
# pairs of servers in turn.  With a pair down, an IAMAT at a survivor
# reaches the survivors still connected to it, while survivors cut off from
# it keep their older line; once the pair is back, every server converges to
# the newest line and the restarted (empty) servers hold every record.

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

# Goloman 8180, Hands 8181, Holiday 8182, Welsh 8183, Wilkes 8184
my $t = herd_goloman(8180);

my @names = herd_names();

my @pairs;
for my $i (0 .. $#names) {
	push @pairs, map { [ $names[$i], $names[$_] ] } $i + 1 .. $#names;
}

# for each pair: the survivors, the server the IAMAT goes to (one in the
# largest group of survivors still connected, a different one each time),
# who of the survivors it reaches, who is cut off from it

my @plan;
for my $k (0 .. $#pairs) {
	my %down = map { $_ => 1 } @{$pairs[$k]};
	my @up = grep { !$down{$_} } @names;

	my $size = 0;
	$size = ($_ > $size ? $_ : $size) for map { scalar herd_reachable(\@up, $_) } @up;
	my @big = grep { herd_reachable(\@up, $_) == $size } @up;

	my $origin = $big[$k % @big];
	my %reach = map { $_ => 1 } herd_reachable(\@up, $origin);

	push @plan, {
		pair => $pairs[$k],
		up => \@up,
		origin => $origin,
		reached => [ grep { $reach{$_} } @up ],
		cut => [ grep { !$reach{$_} } @up ],
	};
}

my $cut_off = grep { @{$_->{cut}} } @plan;

$t->{$_}->run() for @names;

# every object adds its own 2 ("no alerts", "no sanitizer errors")
$t->{Goloman}->plan(3 + 5 * @plan + $cut_off + 2 * (@names - 1));

###############################################################################

sub all_of {
	my ($line, @which) = @_;
	@which = @names unless @which;
	return { map { $_ => $line } @which };
}

# every record so far: client => AT line (never a named sub's reference to
# $t: the servers must be stopped before global destruction)
my %expect;

sub records_everywhere {
	my ($herd, @which) = @_;
	my @clients = sort keys %expect;
	my %last;

	wait_for(sub {
		my $all = 1;
		for my $name (@which) {
			$last{$name} = herd_lookup_many($herd->{$name}, \@clients);
			$all = 0 unless join("\n", map { $last{$name}{$_} // '' } @clients)
				eq join("\n", map { $expect{$_} } @clients);
		}
		return $all;
	}, timeout => 30, interval => 0.2);

	return \%last;
}

ok(herd_links_up($t), 'all links of the five servers are up');

for my $k (0 .. $#plan) {
	my $p = $plan[$k];
	my ($x, $y) = @{$p->{pair}};
	my $client = "pair$k.$x.$y";
	my $what = "$x and $y down";

	# seed the client everywhere with an older line

	my $seed = herd_iamat($t->{$p->{up}[0]}, $client, "-$k-$k", herd_time());
	is_deeply(herd_wait_lines($t, \@names, $client, $seed, timeout => 30),
		all_of($seed), "$what: the older line is everywhere first");

	$t->{$x}->stop();
	$t->{$y}->stop();

	my $time = herd_time();
	my $new = herd_iamat($t->{$p->{origin}}, $client, "+$k+$k", $time);
	like($new, qr/^AT $p->{origin} \S+ \Q$client\E \+$k\+$k \Q$time\E\n\z/,
		"$what: IAMAT at $p->{origin} answered");

	is_deeply(herd_wait_lines($t, $p->{reached}, $client, $new),
		all_of($new, @{$p->{reached}}),
		"$what: @{$p->{reached}} see the update");

	if (@{$p->{cut}}) {
		# asserted after every connected survivor has the new line
		is_deeply(herd_lines($t, $p->{cut}, $client),
			all_of($seed, @{$p->{cut}}),
			"$what: cut-off @{$p->{cut}} keep the older line");
	}

	$t->{$x}->run();
	$t->{$y}->run();

	is_deeply(herd_wait_lines($t, \@names, $client, $new, timeout => 30),
		all_of($new), "$what, then back: every server has the newest line");

	$expect{$client} = $new;

	my $all = records_everywhere($t, $x, $y);
	is_deeply({ $x => $all->{$x}, $y => $all->{$y} },
		{ $x => \%expect, $y => \%expect },
		"$what, then back: $x and $y (restarted empty) hold all "
		. scalar(keys %expect) . ' records');
}

ok(herd_links_up($t, timeout => 30), 'all links are up at the end');

my %digest = map { $_ => herd_digest($t->{$_}) } @names;
my ($hex) = ($digest{Goloman} // '') =~ /^DIGEST 1 Goloman ([0-9a-f]{4096})\n/;

is_deeply({ map { $_ => ($digest{$_} // '') =~ s/^DIGEST 1 \S+ //r } @names },
	all_of(($hex // 'none') . "\n"),
	'all five servers answer equal digests');

###############################################################################
