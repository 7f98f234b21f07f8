use warnings;
use strict;
use Test::More;
use IO::Socket::INET;
use Test::Nginx;
use Test::Nginx::Stream qw/ stream /;
use Herd::Util;

my $t = Test::Nginx->new()->has(qw/stream/);
$t->write_file_expand('nginx.conf', <<'EOF2');
%%TEST_GLOBALS%%
daemon off;
events { }
stream {
    server { listen 127.0.0.1:8080; return "partial-no-newline"; }
    server { listen 127.0.0.1:8082; proxy_pass 127.0.0.1:8081; }
}
EOF2
$t->run_daemon(sub {
	my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1:' . port(8081),
		Listen => 5, ReuseAddr => 1) or die "listen: $!";
	while (my $c = $l->accept()) { sleep 30; }   # never answers
});
$t->run()->plan(8);
$t->waitforsocket('127.0.0.1:' . port(8081));

my $s = stream('127.0.0.1:' . port(8080));
is(herd_line($s), undef, 'no newline before eof => undef');
is(herd_until_eof($s), 'partial-no-newline', 'buffered partial returned');

$s = stream('127.0.0.1:' . port(8082));
my $t0 = time;
is($s->read(read_timeout => 1), undef, 'read timeout => undef');
is(herd_reply($s, timeout => 1), undef, 'herd_reply timeout');
is($s->io("x\n", read_timeout => 1), '', 'io timeout => empty');
undef $s;

ok(!eval { stream('127.0.0.1:' . port(8555)); 1 }, 'stream() dies when refused');
like($@, qr/Can't connect/, 'message');

my $big = 'z' x 200000;
$s = stream('127.0.0.1:' . port(8080));
is($s->io('', length => 5), 'partial-no-newline', 'length stops after >= 5 bytes');
undef $s;
