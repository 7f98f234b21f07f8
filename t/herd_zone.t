#!/usr/bin/perl

# Tests for ngx_stream_herd_module: the shared location zone.  What one
# worker stores every worker knows, what a herd server stores survives a
# reload, two herd servers keep separate zones, and a full zone evicts the
# least recently updated clients instead of failing.

###############################################################################

use warnings;
use strict;

use Test::More;

use Test::Nginx;
use Herd::Util;
use Herd::Conf;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

my $t = Test::Nginx->new()->has(qw/stream/);

my $conf = <<'EOF';

%%TEST_GLOBALS%%

daemon off;
worker_processes 2;

events {
}

stream {
    %%TEST_GLOBALS_STREAM%%

    herd_zone zone=goloman:1m;
    herd_zone zone=hands:1m;
    herd_zone zone=welsh:%%WELSH_SIZE%%;

    # reuseport: the kernel spreads connections over both workers
    server {
        listen 127.0.0.1:8110 reuseport;
        herd Goloman zone=goloman;
    }

    server {
        listen 127.0.0.1:8111;
        herd Hands zone=hands;
    }

    server {
        listen 127.0.0.1:8112 reuseport;
        herd Welsh zone=welsh;
    }

    # a full zone whose records were updated in random order
    herd_zone zone=holiday:256k;

    server {
        listen 127.0.0.1:8114;
        herd Holiday zone=holiday;
    }

    # lines longer than the whole zone can hold
    herd_zone zone=wilkes:32k;

    server {
        listen 127.0.0.1:8113;
        herd Wilkes zone=wilkes;
        herd_max_line 64k;
    }
}

EOF

(my $c = $conf) =~ s/%%WELSH_SIZE%%/32k/;
$t->write_file_expand('nginx.conf', $c);

$t->run()->plan(30);

###############################################################################

my $goloman = '127.0.0.1:' . port(8110);
my $hands = '127.0.0.1:' . port(8111);
my $welsh = '127.0.0.1:' . port(8112);

my $json = <<'EOF';
{
   "error_message" : "No Places API key is configured on this herd server",
   "html_attributions" : [],
   "results" : [],
   "status" : "REQUEST_DENIED"
}
EOF

# the whole answer to one WHATSAT on a connection of its own

sub whatsat {
	my ($addr, $id) = @_;
	return herd_chat($addr, "WHATSAT $id 10 5");
}

# the AT line a WHATSAT answered with, or the whole answer when it is not
# a WHATSAT reply

sub at_line {
	my ($reply) = @_;
	return $reply unless defined $reply && $reply =~ /^(AT [^\n]*\n)\Q$json\E\n\z/;
	return $1;
}

sub log_size {
	my ($t) = @_;
	return length $t->read_file('error.log');
}

# state kept across a reload

my $kiwi = herd_chat($goloman,
	'IAMAT kiwi.cs.ucla.edu +34.068930-118.445127 1520023934.918963997');
like($kiwi, qr/^AT Goloman [+-]\d+\.\d{9} kiwi\.cs\.ucla\.edu \+34\.068930-118\.445127 1520023934\.918963997\n\z/,
	'IAMAT answered');

my @old = herd_workers($t);
ok(herd_reload_settled($t), 'reload: the new workers took over');

my $from = log_size($t);
my $reply = whatsat($goloman, 'kiwi.cs.ucla.edu');
is(at_line($reply), $kiwi,
	'after a reload, WHATSAT gives the AT line stored before it');

my @by = herd_served_by($t, qr/herd Goloman: recv "WHATSAT kiwi/,
	from => $from);
my %old = map { $_ => 1 } @old;
ok(@old == 2 && @by == 1 && !$old{$by[0]},
	'that WHATSAT was answered by a worker started by the reload');

# two workers share one zone: 40 clients, each IAMAT and each WHATSAT on a
# fresh connection, whichever worker accepts it

$from = log_size($t);

my (%at, $n);
for my $i (1 .. 40) {
	my $id = sprintf('worker-client-%02d.example', $i);
	$at{$id} = herd_chat($goloman, "IAMAT $id +1.5-2.25 1600000000.$i");
	$n++ if $at{$id} =~ /^AT Goloman \S+ \Q$id\E \+1\.5-2\.25 1600000000\.$i\n\z/;
}
is($n, 40, '40 IAMATs on 40 connections all answered');

$n = 0;
for my $id (sort keys %at) {
	$n++ if at_line(whatsat($goloman, $id)) eq $at{$id};
}
is($n, 40, '40 WHATSATs on 40 fresh connections: every client known');

my $crossed = 0;
for my $id (sort keys %at) {
	my ($set) = herd_served_by($t, qr/recv "IAMAT \Q$id\E /, from => $from);
	my ($get) = herd_served_by($t, qr/recv "WHATSAT \Q$id\E /,
		from => $from);
	$crossed++ if defined $set && defined $get && $set != $get;
}
ok($crossed, 'clients stored by one worker were found by the other');

# two herd servers, two zones

is(whatsat($hands, 'kiwi.cs.ucla.edu'), "? WHATSAT kiwi.cs.ucla.edu 10 5\n",
	'a client known to Goloman is unknown to Hands (its own zone)');

my $kiwi_hands = herd_chat($hands,
	'IAMAT kiwi.cs.ucla.edu -33.8688+151.2093 1520023999.5');
is(at_line(whatsat($hands, 'kiwi.cs.ucla.edu')), $kiwi_hands,
	'Hands keeps its own record of the client');
is(at_line(whatsat($goloman, 'kiwi.cs.ucla.edu')), $kiwi,
	'a newer IAMAT to Hands leaves Goloman\'s record alone');

# eviction: 2000 clients into the smallest zone, 100 per connection

my (%welsh, @ids);
$n = 0;
for my $b (0 .. 19) {
	my @batch = map { sprintf('client-%04d', $_) } $b * 100 .. $b * 100 + 99;
	my @lines = split /^/m, herd_chat($welsh,
		map { /(\d+)$/; "IAMAT $_ +34.068930-118.445127 1520023934.$1" }
		@batch);

	for my $id (@batch) {
		my $line = shift @lines;
		my ($time) = $id =~ /(\d+)$/;
		$n++ if defined $line && $line =~ /^AT Welsh [+-]\d+\.\d{9} \Q$id\E \+34\.068930-118\.445127 1520023934\.$time\n\z/;
		$welsh{$id} = $line;
		push @ids, $id;
	}
}
is($n, 2000, 'a full zone still answers every IAMAT with its AT line');

$n = grep { at_line(whatsat($welsh, $_)) eq $welsh{$_} } @ids[-40 .. -1];
is($n, 40, 'the 40 most recent clients are still known');

$n = grep { whatsat($welsh, $_) eq "? WHATSAT $_ 10 5\n" } @ids[0 .. 39];
is($n, 40, 'the 40 earliest clients were evicted');

like($t->read_file('error.log'), qr/\[warn\] [^\n]*herd_zone "welsh" is full: evicted \d+ least recently updated records?, \d+ held/,
	'eviction is logged at warn');

# records of other sizes replace and join a full zone

my $loc = '+34.068930' . '0' x 80 . '-118.445127' . '0' x 80;
my $update = herd_chat($welsh, "IAMAT client-1999 $loc 1520023935.5");
like($update, qr/^AT Welsh [+-]\d+\.\d{9} client-1999 \Q$loc\E 1520023935\.5\n\z/,
	'a longer location for a held client is answered');
is(at_line(whatsat($welsh, 'client-1999')), $update,
	'the longer location replaced the held record');

my $long = 'long-' . 'x' x 600 . '.example';
my $newcomer = herd_chat($welsh, "IAMAT $long +1-2 1600000000");
like($newcomer, qr/^AT Welsh [+-]\d+\.\d{9} \Q$long\E \+1-2 1600000000\n\z/,
	'a client with a long id is answered');
is(at_line(whatsat($welsh, $long)), $newcomer,
	'the long client id joined the full zone');

$welsh{'client-1999'} = $update;
$welsh{$long} = $newcomer;
push @ids, $long;

# a long client id joining a full zone whose records were updated in
# random order takes the room of a few records, not of most of the zone

{
	my $holiday = '127.0.0.1:' . port(8114);
	my @ids = map { sprintf('shuffle-%04d', $_) } 0 .. 1999;

	for my $b (0 .. 19) {
		herd_chat($holiday, map { "IAMAT $_ +1+1 1600000000" }
			@ids[$b * 100 .. $b * 100 + 99]);
	}

	my @held = grep { whatsat($holiday, $_) =~ /^AT / } @ids;

	# newer times in a shuffled order (fixed, so a failure repeats)
	my @order = @held;
	my $seed = 7;
	for (my $i = $#order; $i > 0; $i--) {
		$seed = ($seed * 1103515245 + 12345) % 2147483648;
		my $j = $seed % ($i + 1);
		@order[$i, $j] = @order[$j, $i];
	}

	for (my $i = 0; $i < @order; $i += 100) {
		my $last = $i + 99 < $#order ? $i + 99 : $#order;
		herd_chat($holiday, map { "IAMAT $_ +2+2 1600000001" }
			@order[$i .. $last]);
	}

	my $from = log_size($t);
	my $id = 'shuffle-' . 'y' x 600;
	my $r = herd_chat($holiday, "IAMAT $id +3+3 1600000002");
	my ($evicted) = substr($t->read_file('error.log'), $from)
		=~ /herd_zone "holiday" is full: evicted (\d+) /;

	ok(at_line(whatsat($holiday, $id)) eq $r && defined $evicted
		&& $evicted <= 42,
		'a long id joins a full zone by evicting at most two pages of '
		. 'records (evicted ' . ($evicted // 'none') . ' of '
		. scalar(@held) . ')');

	my $n = grep { whatsat($holiday, $_) =~ /^AT \S+ \S+ \S+ \+2\+2 / } @held;
	cmp_ok($n, '>=', @held - 42, 'the other records are still held');
}

# what the full zone holds survives a reload

my %held = map { $_ => $welsh{$_} }
	grep { at_line(whatsat($welsh, $_)) eq $welsh{$_} } @ids[-150 .. -1];

ok(herd_reload_settled($t), 'reload after eviction');

$n = grep { at_line(whatsat($welsh, $_)) eq $held{$_} } keys %held;
is($n, scalar keys %held, 'every client held before the reload is known after it');
ok($held{$long} && $held{'client-1999'},
	'including the long client id and the longer location');

# a zone resized on reload starts empty (only a zone of the same name and
# size is kept); the other zones are kept

($c = $conf) =~ s/%%WELSH_SIZE%%/64k/;
$t->write_file_expand('nginx.conf', $c);

ok(herd_reload_settled($t), 'reload with the welsh zone resized to 64k');

$n = grep { whatsat($welsh, $_) eq "? WHATSAT $_ 10 5\n" } keys %held;
is($n, scalar keys %held, 'the resized zone starts empty');

is(at_line(whatsat($goloman, 'kiwi.cs.ucla.edu')), $kiwi,
	'the zone of unchanged size kept its records');

my $fresh = herd_chat($welsh, 'IAMAT client-1999 +1-2 1600000000');
is(at_line(whatsat($welsh, 'client-1999')), $fresh,
	'the resized zone stores new records');

unlike($t->read_file('error.log'), qr/\[(?:crit|emerg)\]/,
	'no record was refused and no reload failed');

# a record that cannot fit even in the empty zone: answered, not stored,
# and no reason to throw away the records held

my $wilkes = '127.0.0.1:' . port(8113);

my %wilkes = map { $_ => herd_chat($wilkes, "IAMAT $_ +1-2 1600000000") }
	map { "held-$_.example" } 1 .. 10;

my $huge = 'huge-' . 'z' x 40000;
like(herd_chat($wilkes, "IAMAT $huge +1-2 1600000000"),
	qr/^AT Wilkes [+-]\d+\.\d{9} \Q$huge\E \+1-2 1600000000\n\z/,
	'an IAMAT too big for the whole zone is still answered');

$n = grep { at_line(whatsat($wilkes, $_)) eq $wilkes{$_} } keys %wilkes;
is($n, 10, 'a record too big for the zone does not evict the clients held');

###############################################################################
