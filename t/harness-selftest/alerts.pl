# The alerts check must fail a file whose nginx logged an [alert] (here a
# worker killed by SIGSEGV), and plan(N) must declare N + 2 tests.

use warnings;
use strict;
use Test::More tests => 4;
use File::Temp qw/ tempfile /;

my ($fh, $file) = tempfile(SUFFIX => '.t', UNLINK => 1);
print $fh <<'EOF2';
use warnings;
use strict;
use Test::More;
use Test::Nginx;
use Test::Nginx::Stream qw/ stream /;

my $t = Test::Nginx->new()->has(qw/stream/)->write_file_expand('nginx.conf', <<'EOF3');
%%TEST_GLOBALS%%
daemon off;
events { }
stream { server { listen 127.0.0.1:8080; return "hello\n"; } }
EOF3
$t->run()->plan(1);
my $master = $t->read_file('nginx.pid');
chomp $master;
my ($w) = `pgrep -P $master` =~ /(\d+)/;
kill 'SEGV', $w;
select undef, undef, undef, 0.5;
is(stream('127.0.0.1:' . port(8080))->io(''), "hello\n", 'respawned');
EOF2
close $fh;

my ($lib) = grep { -e "$_/Test/Nginx.pm" } @INC;
my $out = `$^X -I$lib $file 2>&1`;

like($out, qr/^1\.\.3$/m, 'plan(1) declares 3');
like($out, qr/^ok 1 - respawned$/m, 'functional test passes');
like($out, qr/^not ok 2 - no alerts$/m, 'crash fails "no alerts"');
like($out, qr/exited on signal 11/, 'the alert is shown');
