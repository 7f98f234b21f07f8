#!/usr/bin/perl

# Tests for the herd stream module: TLS on peer links, with mutual
# certificates as an alternative to herd_peer_secret (issue 6): links
# verify the neighbour's certificate and its name; with
# herd_peer_require_certificate a greeting is accepted only on a TLS
# connection whose verified client certificate names that peer.

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
	my ($name, $port, $plain, $peer, $peer_port, $extra) = @_;

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
        listen 127.0.0.1:$port ssl;
        listen 127.0.0.1:$plain;

        ssl_certificate         %%TESTDIR%%/$name.crt;
        ssl_certificate_key     %%TESTDIR%%/$name.key;
        ssl_verify_client       optional;
        ssl_client_certificate  %%TESTDIR%%/ca.crt;

        herd $name zone=$name;
        herd_peer $peer 127.0.0.1:$peer_port;

        herd_peer_ssl                      on;
        herd_peer_ssl_certificate          %%TESTDIR%%/$name.crt;
        herd_peer_ssl_certificate_key      %%TESTDIR%%/$name.key;
        herd_peer_ssl_trusted_certificate  %%TESTDIR%%/ca.crt;
        herd_peer_require_certificate      on;

        error_log %%TESTDIR%%/herd.log info;
    }

$extra
}

EOF
}

# test clients that speak TLS with a chosen certificate: nginx's own
# stream proxy in front of Alpha's TLS listener

my $proxies = <<'EOF';
    server {
        listen 127.0.0.1:8334;
        proxy_pass 127.0.0.1:8330;
        proxy_ssl on;
        proxy_half_close on;
        proxy_ssl_session_reuse off;
        proxy_ssl_certificate      %%TESTDIR%%/Mallory.crt;
        proxy_ssl_certificate_key  %%TESTDIR%%/Mallory.key;
    }

    server {
        listen 127.0.0.1:8335;
        proxy_pass 127.0.0.1:8330;
        proxy_ssl on;
        proxy_half_close on;
        proxy_ssl_session_reuse off;
        proxy_ssl_certificate      %%TESTDIR%%/Beta.crt;
        proxy_ssl_certificate_key  %%TESTDIR%%/Beta.key;
    }
EOF

my $t = Test::Nginx->new()->has(qw/stream stream_ssl/)
	->write_file_expand('nginx.conf',
		conf('Alpha', 8330, 8332, 'Beta', 8331, $proxies));

my $beta = Test::Nginx->new()->has(qw/stream stream_ssl/)
	->write_file_expand('nginx.conf',
		conf('Beta', 8331, 8333, 'Alpha', 8330, ''));

# a CA, and certificates named after their herd servers (subjectAltName)

sub certs {
	my ($dir, $ca_dir, @names) = @_;
	my $key = '-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes';

	if ($dir eq $ca_dir) {
		system("openssl req -x509 $key -keyout $dir/ca.key -out $dir/ca.crt "
			. "-subj /CN=herd-test-ca -days 2 >/dev/null 2>&1") == 0
			or die "openssl: ca";
	} else {
		system("cp $ca_dir/ca.crt $ca_dir/ca.key $dir/") == 0 or die;
	}

	for my $n (@names) {
		open my $ext, '>', "$dir/$n.ext" or die;
		print $ext "subjectAltName=DNS:$n\n";
		close $ext;

		system("openssl req $key -keyout $dir/$n.key -out $dir/$n.csr "
			. "-subj /CN=$n >/dev/null 2>&1") == 0 or die "openssl: $n";
		system("openssl x509 -req -in $dir/$n.csr -CA $dir/ca.crt "
			. "-CAkey $dir/ca.key -CAcreateserial -out $dir/$n.crt "
			. "-days 2 -extfile $dir/$n.ext >/dev/null 2>&1") == 0
			or die "openssl: $n";
	}
}

certs($t->testdir(), $t->testdir(), qw/Alpha Beta Mallory/);
certs($beta->testdir(), $t->testdir(), qw/Alpha Beta/);

$t->run();
$beta->run();

$t->plan(9 + 2);

###############################################################################

my $alpha = '127.0.0.1:' . port(8332);
my $beta_addr = '127.0.0.1:' . port(8333);

sub wait_for {
	my ($sub) = @_;
	for (1 .. 200) {
		my $r = $sub->();
		return $r if $r;
		select undef, undef, undef, 0.05;
	}
	return;
}

sub whatsat {
	my ($addr, $client) = @_;
	my $r = herd_raw($addr, "WHATSAT $client 10 1\n", timeout => 5) // '';
	return (split /\n/, $r)[0] // '';
}

ok(wait_for(sub { $t->read_file('herd.log') =~ /peer "Beta" connected/ }),
	'Alpha accepts Beta\'s TLS link: its certificate names Beta');
ok(wait_for(sub { $beta->read_file('herd.log') =~ /peer "Alpha" connected/ }),
	'Beta accepts Alpha\'s TLS link');

my $at = herd_raw($alpha, "IAMAT kiwi +34.06893-118.445127 1600000000.5\n");
like($at, qr/^AT Alpha /, 'IAMAT at Alpha');
chomp $at;
ok(wait_for(sub { whatsat($beta_addr, 'kiwi') eq $at }),
	'the update reaches Beta over TLS');

# without a certificate: no peer

is(herd_raw($alpha, "HERD 1 Beta\nAT Beta +0.1 evil +1+1 1700000000\n"),
	"? HERD 1 Beta\n? AT Beta +0.1 evil +1+1 1700000000\n",
	'a greeting without TLS is refused');
like(whatsat($alpha, 'evil'), qr/^\? WHATSAT evil/, 'nothing injected');

# a valid certificate, but for another name

is(herd_raw('127.0.0.1:' . port(8334),
		"HERD 1 Beta\nAT Beta +0.1 evil2 +1+1 1700000000\n"),
	"? HERD 1 Beta\n? AT Beta +0.1 evil2 +1+1 1700000000\n",
	'a greeting from a certificate for Mallory, as Beta, is refused');
like(whatsat($alpha, 'evil2'), qr/^\? WHATSAT evil2/, 'nothing injected');

# Beta's certificate is accepted as Beta

like(herd_raw('127.0.0.1:' . port(8335), "HERD 1 Beta\n"),
	qr/^DIGEST 1 Alpha [0-9a-f]{4096}\n\z/,
	'a greeting with Beta\'s certificate is answered with the digests');

###############################################################################
