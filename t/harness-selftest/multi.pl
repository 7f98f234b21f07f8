use warnings;
use strict;
use Test::More;
use IO::Socket::INET;
use Test::Nginx;
use Test::Nginx::Stream qw/ stream /;
use Herd::Util;

my $t = Test::Nginx->new()->has(qw/stream http/);
my $t2 = Test::Nginx->new()->has(qw/stream/);
my $bad = Test::Nginx->new();

$t->write_file_expand('nginx.conf', <<'EOF2');
%%TEST_GLOBALS%%
daemon off;
events { }
stream {
    %%TEST_GLOBALS_STREAM%%
    server { listen 127.0.0.1:8080; return "one\n"; }
    server { listen 127.0.0.1:8082; proxy_pass 127.0.0.1:8081; proxy_half_close on; }
}
http {
    %%TEST_GLOBALS_HTTP%%
    server { listen 127.0.0.1:8090; location / { return 200 "places $uri\n"; } }
}
EOF2

$t2->write_file_expand('nginx.conf', <<'EOF2');
%%TEST_GLOBALS%%
daemon off;
events { }
stream {
    server { listen 127.0.0.1:8180; return "two\n"; }
}
EOF2

$bad->write_file_expand('nginx.conf', <<'EOF2');
%%TEST_GLOBALS%%
daemon off;
events { }
stream { server { listen 127.0.0.1:8280; bogus_directive; } }
EOF2

# echo daemon: echoes each line, closes on EOF
$t->run_daemon(sub {
	my $l = IO::Socket::INET->new(Proto => 'tcp', LocalAddr => '127.0.0.1:' . port(8081),
		Listen => 5, ReuseAddr => 1) or die "listen: $!";
	while (my $c = $l->accept()) {
		while (my $line = <$c>) { print $c $line; }
		close $c;
	}
});

$t->run();
$t2->run();
$t->plan(17 + 4);

ok($t->waitforsocket('127.0.0.1:' . port(8081)), 'waitforsocket daemon');
eval { $bad->run(); };
like($@, qr/^Can't start nginx/, 'config error dies');
like($bad->read_file('error.log'), qr/unknown directive "bogus_directive"/, 'emerg logged');

isnt(port(8080), port(8180), 'distinct ports');
is(stream('127.0.0.1:' . port(8080))->io(''), "one\n", 'object 1');
is(stream('127.0.0.1:' . port(8180))->io(''), "two\n", 'object 2');

like(http(qq{GET /x/y HTTP/1.0\nHost: localhost\n\n}, socket => IO::Socket::INET->new("127.0.0.1:" . port(8090))), qr/200 OK.*places \/x\/y/s, 'http() to an http {} server');

my $s = stream('127.0.0.1:' . port(8082));
$s->write("IAMAT a\nWHATSAT b\n\nrest");
is(herd_line($s), "IAMAT a\n", 'herd_line via proxy');
is(herd_reply($s), "WHATSAT b\n\n", 'herd_reply');
is(herd_line($s, timeout => 0.5), undef, 'herd_line timeout');
$s->socket->shutdown(1);
is(herd_until_eof($s), "rest", 'herd_until_eof');
undef $s;

is(herd_raw('127.0.0.1:' . port(8082), "a\nb"), "a\nb", 'herd_raw through proxy');

$t2->stop();
ok(!defined herd_raw('127.0.0.1:' . port(8180), ''), 'object 2 stopped');
is(stream('127.0.0.1:' . port(8080))->io(''), "one\n", 'object 1 still up');
$t2->run();
is(stream('127.0.0.1:' . port(8180))->io(''), "two\n", 'object 2 restarted');
$t2->reload();
ok(herd_wait_log($t2, qr/gracefully shutting down/), 'reload by HUP');
is(stream('127.0.0.1:' . port(8180))->io(''), "two\n", 'object 2 after HUP');
