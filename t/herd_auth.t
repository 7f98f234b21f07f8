#!/usr/bin/perl

# Tests for the herd stream module: peer authentication with
# herd_peer_secret (issue 6): links between servers that share the secret
# come up and flood; a server with another secret is refused both ways;
# a client posing as a peer, with or without the handshake, cannot inject
# a location.

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

my $secret = 'correct horse battery staple';

sub conf {
	my ($name, $port, $secret, @peers) = @_;
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

    herd_zone zone=$name:1m;

    server {
        listen 127.0.0.1:$port;
        herd $name zone=$name;
        herd_peer_secret "$secret";
$peers
        error_log %%TESTDIR%%/herd.log info;
    }
}

EOF
}

my $t = Test::Nginx->new()->has(qw/stream/)
	->write_file_expand('nginx.conf', conf('Alpha', 8240, $secret,
		[ 'Beta', 8241 ], [ 'Gamma', 8242 ]));

my $beta = Test::Nginx->new()->has(qw/stream/)
	->write_file_expand('nginx.conf', conf('Beta', 8241, $secret,
		[ 'Alpha', 8240 ]));

my $gamma = Test::Nginx->new()->has(qw/stream/)
	->write_file_expand('nginx.conf', conf('Gamma', 8242,
		'not the secret at all', [ 'Alpha', 8240 ]));

$t->run();
$beta->run();
$gamma->run();

$t->plan(14 + 4);

###############################################################################

my $alpha = '127.0.0.1:' . port(8240);
my $beta_addr = '127.0.0.1:' . port(8241);
my $gamma_addr = '127.0.0.1:' . port(8242);

sub herd_log {
	my ($t) = @_;
	return $t->read_file('herd.log');
}

sub whatsat {
	my ($addr, $client) = @_;
	my $r = herd_raw($addr, "WHATSAT $client 10 1\n", timeout => 5) // '';
	return (split /\n/, $r)[0] // '';
}

sub wait_for {
	my ($sub) = @_;
	for (1 .. 200) {
		my $r = $sub->();
		return $r if $r;
		select undef, undef, undef, 0.05;
	}
	return;
}

# the links with the same secret come up, authenticated

ok(wait_for(sub { herd_log($t) =~ /peer "Beta" connected, authenticated/ }),
	'Alpha accepts Beta\'s link: authenticated');
ok(wait_for(sub { herd_log($beta) =~ /peer "Alpha" connected, authenticated/ }),
	'Beta accepts Alpha\'s link: authenticated');

my $at = herd_raw($alpha, "IAMAT kiwi +34.06893-118.445127 1600000000.5\n");
like($at, qr/^AT Alpha \S+ kiwi \+34\.06893-118\.445127 1600000000\.5\n\z/,
	'IAMAT at Alpha');
chomp $at;
ok(wait_for(sub { whatsat($beta_addr, 'kiwi') eq $at }),
	'the update reaches Beta over the authenticated link');

# a server with another secret is refused, both ways

ok(wait_for(sub { herd_log($t) =~ /peer "Gamma" left without proving it knows herd_peer_secret/ }),
	'Alpha does not accept Gamma\'s link: Gamma could not prove the secret');
ok(wait_for(sub { herd_log($gamma)
		=~ /peer failed authentication: wrong herd_peer_secret/ }),
	'Gamma refuses Alpha\'s link: wrong secret');

herd_raw($gamma_addr, "IAMAT fromgamma +1+1 1600000000\n");
herd_raw($alpha, "IAMAT later +1+1 1600000001\n");
ok(wait_for(sub { whatsat($beta_addr, 'later') =~ /^AT Alpha/ }),
	'a later update has crossed Alpha\'s good link');
like(whatsat($alpha, 'fromgamma'), qr/^\? WHATSAT fromgamma/,
	'Gamma\'s update did not reach Alpha');
like(whatsat($gamma_addr, 'kiwi'), qr/^\? WHATSAT kiwi/,
	'Alpha\'s update did not reach Gamma');

# a client posing as Beta without the handshake

my $r = herd_raw($alpha, "HERD 1 Beta\nAT Beta +0.1 evil +1+1 1700000000\n");
is($r, "? HERD 1 Beta\n? AT Beta +0.1 evil +1+1 1700000000\n",
	'a greeting without authentication is refused');
like(whatsat($alpha, 'evil'), qr/^\? WHATSAT evil/,
	'no location injected without authentication');

# a client posing as Beta, with a nonce but without the secret

my $s = stream($alpha);
$s->write("HERD 1 Beta 0123456789abcdef0123456789abcdef\n");
like(herd_line($s) // '', qr/^AUTH 1 Alpha [0-9a-f]{32} [0-9a-f]{64}\n\z/,
	'a greeting with a nonce gets Alpha\'s proof');
$s->write("AUTH 1 " . ('0' x 64) . "\nAT Beta +0.1 evil2 +1+1 1700000000\n");
is(join('', herd_line($s) // '', herd_line($s) // ''),
	"? AUTH 1 " . ('0' x 64) . "\n? AT Beta +0.1 evil2 +1+1 1700000000\n",
	'a wrong proof is refused, and so is what follows');
undef $s;
like(whatsat($alpha, 'evil2'), qr/^\? WHATSAT evil2/,
	'no location injected with a wrong proof');

###############################################################################
