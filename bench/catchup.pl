#!/usr/bin/perl
# Catch-up benchmark: how long a herd server that was down takes to hold
# every record its neighbour holds once it comes back.
#
#   perl bench/catchup.pl [clients] [module.so]
#
# Starts two herd servers A and B (one nginx each, 2 workers, peers of each
# other) on 127.0.0.1:12100/12101 under build/bench-catchup/, stops B,
# sends N IAMATs (distinct clients) to A, starts B empty and polls both
# servers' bucket digests through the peer greeting ("HERD 1 <name>" is
# answered with "DIGEST 1 <name> <digests>") until they are equal.  Prints
# the time from B's start to equal digests.
#
# Environment (all optional; bench/run.py uses them):
#   CATCHUP_ZONE     herd_zone size of both servers (default 64m; 1M clients
#                    need about 300m)
#   CATCHUP_PORTS    "PORT_A,PORT_B" (default 12100,12101)
#   CATCHUP_DIR      working directory (default build/bench-catchup)
#   CATCHUP_WORKERS  worker_processes of both servers (default 2)
#   CATCHUP_TIMEOUT  seconds to wait for convergence (default 60)
# The last line printed is machine-readable:
#   RESULT clients=N load_s=X catchup_s=Y polls=P

use strict;
use warnings;
use IO::Socket::INET;
use Time::HiRes qw/time sleep/;
use File::Path qw/make_path remove_tree/;
use Cwd qw/abs_path/;

my $n = shift // 100000;
my $so = abs_path(shift // 'build/ngx_stream_herd_module.so');
my $stream_so = $ENV{STREAM_SO} // '/usr/lib/nginx/modules/ngx_stream_module.so';
my $nginx = $ENV{NGINX_BIN} // '/usr/sbin/nginx';
my $dir = $ENV{CATCHUP_DIR} // abs_path('build') . '/bench-catchup';
my ($pa, $pb) = split /,/, ($ENV{CATCHUP_PORTS} // '12100,12101');
my %port = (A => $pa, B => $pb);
my $zone = $ENV{CATCHUP_ZONE} // '64m';
my $workers = $ENV{CATCHUP_WORKERS} // 2;
my $timeout = $ENV{CATCHUP_TIMEOUT} // 60;
die "bad CATCHUP_ZONE\n" unless $zone =~ /^\d+[km]?$/;

remove_tree($dir);
make_path("$dir/A", "$dir/B");

for my $s (qw/A B/) {
    my $o = $s eq 'A' ? 'B' : 'A';
    my $user = $> == 0 ? 'user root;' : '';
    open my $f, '>', "$dir/$s/nginx.conf" or die;
    print $f <<"CONF";
load_module $stream_so;
load_module $so;
$user
pid $dir/$s/nginx.pid;
error_log $dir/$s/error.log notice;
worker_processes $workers;
events { worker_connections 1024; }
stream {
    herd_zone zone=$s:$zone;
    server {
        listen 127.0.0.1:$port{$s};
        herd $s zone=$s;
        herd_peer $o 127.0.0.1:$port{$o};
    }
}
CONF
    close $f;
}

sub start { system($nginx, '-p', "$dir/$_[0]/", '-c', "$dir/$_[0]/nginx.conf") == 0 or die "start $_[0]"; wait_port($port{$_[0]}); }
sub stop {
    my $pidf = "$dir/$_[0]/nginx.pid";
    return unless -f $pidf;
    chomp(my $pid = `cat $pidf`);
    kill 'QUIT', $pid;
    for (1 .. 100) { last unless kill 0, $pid; sleep 0.05; }
}
sub wait_port { for (1 .. 100) { my $s = IO::Socket::INET->new("127.0.0.1:$_[0]") and return; sleep 0.05; } die "port $_[0]"; }

sub digest {
    my ($s, $as) = @_;
    my $c = IO::Socket::INET->new("127.0.0.1:$port{$s}") or return '';
    print $c "HERD 1 $as\n";
    my $line = <$c>;
    close $c;
    return defined $line ? (split ' ', $line)[3] // '' : '';
}

start('A');
# B is down while A learns the clients.  A child reads the answers while
# the parent writes, so that neither side waits for the other however many
# clients there are.
my $c = IO::Socket::INET->new("127.0.0.1:$port{A}") or die;
my $t = time;
pipe(my $rd, my $wr) or die "pipe: $!";
my $reader = fork // die "fork: $!";
if ($reader == 0) {
    close $rd;
    my $answers = 0;
    my $buf;
    while (sysread($c, $buf, 1 << 16)) { $answers += ($buf =~ tr/\n//); }
    print $wr "$answers\n";
    close $wr;
    require POSIX;
    POSIX::_exit(0);
}
close $wr;
my $batch = '';
for my $i (1 .. $n) {
    $batch .= sprintf "IAMAT client%07d.example +%d.%06d-%d.%06d %d.%09d\n",
        $i, $i % 90, $i % 1000000, $i % 180, $i % 999999, 1600000000 + $i, $i;
    if ($i % 1000 == 0 || $i == $n) { print $c $batch; $batch = ''; }
}
$c->flush;
shutdown $c, 1;
my $answers = <$rd> // 0;
chomp $answers;
waitpid $reader, 0;
close $c;
my $load = time - $t;
printf "loaded %d clients into A in %.2f s (%d AT replies)\n", $n, $load, $answers;

my $da = digest('A', 'B');
$t = time;
start('B');
my $polls = 0;
while (1) {
    $polls++;
    my $db = digest('B', 'A');
    last if $db eq $da;
    if (time - $t > $timeout) { stop('A'); stop('B'); die "no convergence after $timeout s\n"; }
    sleep 0.01;
}
my $elapsed = time - $t;
printf "B started empty and held all %d records %.3f s after its start (%d digest polls)\n",
    $n, $elapsed, $polls;

stop('A');
stop('B');
printf "RESULT clients=%d load_s=%.3f catchup_s=%.3f polls=%d\n", $n, $load, $elapsed, $polls;
