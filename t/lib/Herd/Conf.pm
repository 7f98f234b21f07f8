package Herd::Conf;

# Helpers for the configuration, zone and logging suites (herd_config.t,
# herd_zone.t, herd_log.t).
#
# Like Herd::Util, they use only the public API of Test::Nginx objects
# (testdir, read_file, reload, write_file_expand), so they work with the
# real nginx-tests harness as well as with the project's copy in t/lib/Test/.
#
# Exported:
#
#   herd_conf_test($t, 'name.conf')
#       Runs "$TEST_NGINX_BINARY -t" over that file of the test directory
#       (written before, e.g. with write_file_expand so %%TEST_GLOBALS%% is
#       substituted exactly as for nginx.conf).  Returns everything nginx
#       printed (stdout and stderr) followed by a line "exit status N".
#       The binary is only ever used as an executable: under the real
#       harness it may be a wrapper script.  Early messages, printed before
#       the configuration's own error_log is opened, go to a log file in the
#       test directory (-e), never to the system's default error log.
#
#   herd_workers($t)
#       Pids of the worker processes currently running, from error.log
#       ("start worker process N" minus "worker process N exited").
#
#   herd_reload_settled($t, timeout => 10)
#       $t->reload() (HUP, which is all the real harness does), then wait,
#       from error.log, until the new workers have started and every worker
#       of the previous configuration has exited, so that whatever connects
#       next is served by the new configuration only.  True on success,
#       false on a failed reload ([emerg] after "reconfiguring") or timeout.
#
#   herd_served_by($t, $re, from => $offset, log => 'error.log')
#       Pids of the workers that logged a line matching $re (e.g. a herd
#       "recv" line), in log order.

use warnings;
use strict;

use base qw/ Exporter /;
our @EXPORT = qw/
	herd_conf_test herd_workers herd_reload_settled herd_served_by
/;
our @EXPORT_OK = @EXPORT;

use POSIX qw//;
use Time::HiRes qw/ time sleep /;

sub herd_conf_test {
	my ($t, $name) = @_;

	my $bin = defined $ENV{TEST_NGINX_BINARY}
		? $ENV{TEST_NGINX_BINARY} : '/usr/sbin/nginx';
	my $dir = $t->testdir();

	my @cmd = ($bin, '-t', '-p', "$dir/", '-c', "$dir/$name",
		'-e', "$dir/conf-test.log");

	my $pid = open(my $fh, '-|');
	die "Can't fork: $!\n" unless defined $pid;

	if ($pid == 0) {
		open STDERR, '>&', \*STDOUT;
		{ exec { $cmd[0] } @cmd; }
		print "Unable to exec($bin): $!\n";
		POSIX::_exit(127);
	}

	local $/;
	my $out = <$fh>;
	$out = '' unless defined $out;
	close $fh;

	return $out . 'exit status ' . ($? >> 8) . "\n";
}

sub _log {
	my ($t, $name) = @_;
	return eval { $t->read_file($name // 'error.log') } // '';
}

sub _workers_in {
	my ($log) = @_;
	my %alive;

	while ($log =~ /start worker process (\d+)|worker process (\d+) exited/g)
	{
		if (defined $1) {
			$alive{$1} = 1;
		} else {
			delete $alive{$2};
		}
	}

	return sort { $a <=> $b } keys %alive;
}

sub herd_workers {
	my ($t) = @_;
	return _workers_in(_log($t));
}

sub herd_reload_settled {
	my ($t, %opts) = @_;
	my $deadline = time() + ($opts{timeout} // 10);

	my $log = _log($t);
	my $from = length $log;
	my @old = _workers_in($log);

	$t->reload();

	while (1) {
		$log = _log($t);
		my $tail = length($log) > $from ? substr($log, $from) : '';

		if ($tail =~ /reconfiguring/) {
			my $after = substr($tail, $-[0]);
			return 0 if $after =~ /\[emerg\]/;

			my $gone = grep {
				$after =~ /worker process $_ exited/
			} @old;

			return 1 if $gone == @old
				&& $after =~ /start worker process \d+/;
		}

		return 0 if time() >= $deadline;
		sleep(0.05);
	}
}

sub herd_served_by {
	my ($t, $re, %opts) = @_;

	my $log = _log($t, $opts{log});
	my $from = $opts{from} // 0;
	$log = length($log) > $from ? substr($log, $from) : '';

	my @pids;
	for my $line (split /\n/, $log) {
		next unless $line =~ $re;
		push @pids, $1 if $line =~ /^\S+ \S+ \[\w+\] (\d+)#/;
	}

	return @pids;
}

1;
