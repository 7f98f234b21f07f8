#!/usr/bin/perl

# Tests for the herd stream module: a link pulls what its neighbour holds
# (issue 6, reload and upgrade).  When a link comes up and the digests
# differ, the server that opened it sends PULL with the buckets that
# differ, and the neighbour sends back its records of those buckets on the
# same connection.  A server started empty (a restart, or the new workers of
# a binary upgrade, whose zone is new) so learns everything over its own
# links, without waiting for its neighbours' links to come back.
#
# Alpha lists Beta at an address where nothing listens, so Alpha's own link
# never reaches Beta: whatever Beta learns of Alpha's records comes through
# Beta's link, by the pull.

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

sub conf {
	my ($name, $port, @peers) = @_;
	my $peers = join '', map { "        herd_peer $_->[0] 127.0.0.1:$_->[1];\n" }
		@peers;

	return <<"EOF";

%%TEST_GLOBALS%%

daemon off;
worker_processes 2;

events {
}

stream {
    %%TEST_GLOBALS_STREAM%%

    herd_zone zone=$name:4m;

    server {
        listen 127.0.0.1:$port;
        herd $name zone=$name;
$peers
        error_log %%TESTDIR%%/herd.log info;
        error_log %%TESTDIR%%/error.log info;
    }
}

EOF
}

my $t = Test::Nginx->new()->has(qw/stream/)
	->write_file_expand('nginx.conf', conf('Alpha', port(8340),
		[ 'Beta', port(8342) ]));

my $beta = Test::Nginx->new()->has(qw/stream/)
	->write_file_expand('nginx.conf', conf('Beta', port(8341),
		[ 'Alpha', port(8340) ]));

$t->run();

$t->plan(9 + 2);

###############################################################################

my $alpha = '127.0.0.1:' . port(8340);
my $beta_addr = '127.0.0.1:' . port(8341);

sub wait_for {
	my ($sub) = @_;
	for (1 .. 400) {
		my $r = $sub->();
		return $r if $r;
		select undef, undef, undef, 0.05;
	}
	return;
}

sub lookup_all {
	my ($addr, @clients) = @_;
	my $r = herd_raw($addr, join('', map { "WHATSAT $_ 10 1\n" } @clients),
		timeout => 10) // '';
	my %at;
	for my $reply (split /\n\n/, $r) {
		my ($first) = split /\n/, $reply;
		next unless defined $first;
		$at{$1} = $first if $first =~ /^AT \S+ \S+ (\S+) /;
	}
	return \%at;
}

# Alpha holds 300 clients before Beta starts

my @clients = map { sprintf('pull.%03d', $_) } 1 .. 300;
my $answers = herd_raw($alpha, join('', map {
	"IAMAT $_ +34.068930-118.445127 1600000000." . substr($_, 5) . "\n"
} @clients), timeout => 10) // '';

my %held = map { /^AT \S+ \S+ (\S+) / ? ($1 => $_) : () } split /\n/, $answers;
is(scalar keys %held, 300, 'Alpha answered 300 IAMATs');

$beta->run();

# Beta's link pulls them all

ok(wait_for(sub { scalar(keys %{ lookup_all($beta_addr, @clients) }) == 300 }),
	'Beta, started empty, learns all 300 clients over its own link');

is_deeply(lookup_all($beta_addr, @clients), \%held,
	'Beta holds exactly Alpha\'s AT lines');

like($t->read_file('herd.log'),
	qr/peer "Beta" asked for the records of \d+ buckets/,
	'Alpha logs the pull');
like($t->read_file('herd.log'),
	qr/sent \d+ bytes of records to peer "Beta"/,
	'and the records it sent');
unlike($beta->read_file('herd.log'), qr/peer "Alpha" connected/,
	'Alpha\'s own link never reached Beta');

# the pull, by hand: everything Alpha holds, then keepalives only

my $all = 'f' x 64;
my $r = herd_raw($alpha, "HERD 1 Beta\nPULL 1 $all\n", timeout => 5) // '';
my @lines = split /\n/, $r;
my $digest = shift @lines // '';

like($digest, qr/^DIGEST 1 Alpha [0-9a-f]{4096}\z/, 'PULL: the digest first');
is_deeply({ map { /^AT \S+ \S+ (\S+) / ? ($1 => $_) : () } @lines }, \%held,
	'then every record Alpha holds, once');

# an invalid PULL is logged and changes nothing

$r = herd_raw($alpha, "HERD 1 Beta\nPULL 1 zz\n\n", timeout => 5) // '';
ok($r =~ /^DIGEST 1 Alpha [0-9a-f]{4096}\n\n\z/
	&& $t->read_file('herd.log') =~ /invalid PULL from peer "Beta"/,
	'an invalid PULL: logged, nothing sent, the keepalive still echoed');

$beta->stop();

###############################################################################
