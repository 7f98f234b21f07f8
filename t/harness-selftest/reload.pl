use warnings;
use strict;
use Test::More;
use Test::Nginx;
use Test::Nginx::Stream qw/ stream /;
use Herd::Util;

my $t = Test::Nginx->new()->has(qw/stream/);
my $conf = <<'EOF2';
%%TEST_GLOBALS%%
daemon off;
events { }
stream { server { listen 127.0.0.1:8080; return "VER\n"; } }
EOF2
(my $c = $conf) =~ s/VER/v0/;
$t->write_file_expand('nginx.conf', $c)->run()->plan(41);
for my $i (1 .. 20) {
	($c = $conf) =~ s/VER/v$i/;
	$t->write_file_expand('nginx.conf', $c);
	ok(herd_reload($t), "reload $i");
	is(stream('127.0.0.1:' . port(8080))->io(''), "v$i\n", "new config $i");
}
$t->write_file('nginx.conf', "bad;\n");
ok(!herd_reload($t, timeout => 3), 'failed reload detected');
$t->write_file_expand('nginx.conf', $c);
