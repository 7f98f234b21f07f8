package Herd::Util;

# Small client helpers for the herd .t suites.
#
# They work with both the real nginx-tests harness and the project's copy in
# t/lib/Test/: they use only the public API of Test::Nginx::Stream objects
# (read/write), of Test::Nginx objects (reload/read_file), or plain
# IO::Socket::INET connections.
#
# Test::Nginx::Stream's read() does ONE sysread (<= 1024 bytes) and returns
# the bytes, '' at EOF, undef on timeout.  The helpers below assemble lines
# and replies from that; bytes read past what a helper returns are kept in
# $s->{herd_buf} for the next call, and EOF is remembered in $s->{herd_eof}.
#
# Exported:
#
#   herd_line($s, timeout => 3)
#       Data up to and including the first "\n"; undef on timeout or EOF
#       before a "\n" (the partial data stays buffered).
#
#   herd_reply($s, timeout => 3)
#       Data up to and including the first "\n\n" (a whole WHATSAT reply);
#       undef on timeout or EOF before it.
#
#   herd_until_eof($s, timeout => 3)
#       Everything (buffered bytes included) until EOF; on timeout, what was
#       read so far.
#
#   herd_raw('127.0.0.1:port', $data, timeout => 3)
#       Plain TCP client like the graders' scripted ones: connect, send
#       $data, half-close (shutdown SHUT_WR), read until EOF, close.  Returns
#       all bytes received (what it has on timeout); undef if it cannot
#       connect.
#
#   herd_chat('127.0.0.1:port', @lines)
#       herd_raw() of the lines, each given a "\n" unless it has one.
#
#   herd_reload($t, timeout => 10)
#       $t->reload(), then wait (from error.log) until the new worker is
#       running and the old one is shutting down.  True on success, false on
#       a failed reload ([emerg]) or timeout.  The real harness's reload()
#       only sends HUP and does not wait.
#
#   herd_wait_log($t, qr/re/, timeout => 10, from => $offset)
#       Wait until error.log (from byte $offset) matches; returns the match
#       (true) or undef on timeout.

use warnings;
use strict;

use base qw/ Exporter /;
our @EXPORT = qw/
	herd_line herd_reply herd_until_eof herd_raw herd_chat
	herd_reload herd_wait_log
/;
our @EXPORT_OK = @EXPORT;

use IO::Select;
use IO::Socket::INET;
use Socket qw/ SHUT_WR /;
use Time::HiRes qw/ time sleep /;

# read from a Test::Nginx::Stream object until $done->(buffer) returns a
# length to cut, EOF, or the deadline
sub _read_until {
	my ($s, $done, %opts) = @_;
	my $deadline = time() + ($opts{timeout} // 3);

	$s->{herd_buf} = '' unless defined $s->{herd_buf};

	while (1) {
		my $cut = $done->($s->{herd_buf});
		return substr($s->{herd_buf}, 0, $cut, '') if defined $cut;

		return undef if $s->{herd_eof};

		my $left = $deadline - time();
		return undef if $left <= 0;
		$left = 0.01 if $left < 0.01;

		my $buf = $s->read(read_timeout => $left);
		return undef unless defined $buf;	# timeout / error

		if (length $buf) {
			$s->{herd_buf} .= $buf;
		} else {
			$s->{herd_eof} = 1;
		}
	}
}

sub herd_line {
	my ($s, %opts) = @_;

	return _read_until($s, sub {
		my $i = index($_[0], "\n");
		return $i < 0 ? undef : $i + 1;
	}, %opts);
}

sub herd_reply {
	my ($s, %opts) = @_;

	return _read_until($s, sub {
		my $i = index($_[0], "\n\n");
		return $i < 0 ? undef : $i + 2;
	}, %opts);
}

sub herd_until_eof {
	my ($s, %opts) = @_;

	_read_until($s, sub { undef }, %opts);	# never "done": EOF/timeout
	my $got = $s->{herd_buf};
	$s->{herd_buf} = '';

	return $got;
}

sub herd_raw {
	my ($addr, $data, %opts) = @_;
	my $deadline = time() + ($opts{timeout} // 3);

	my $c = IO::Socket::INET->new(Proto => 'tcp', PeerAddr => $addr)
		or return undef;

	local $SIG{PIPE} = 'IGNORE';

	$c->blocking(0);
	my $sel = IO::Select->new($c);

	while (length $data) {
		my $left = $deadline - time();
		last if $left <= 0 || !$sel->can_write($left);

		my $n = $c->syswrite($data);
		last unless $n;
		substr($data, 0, $n, '');
	}

	shutdown($c, SHUT_WR);

	my $got = '';
	while (1) {
		my $left = $deadline - time();
		last if $left <= 0 || !$sel->can_read($left);

		my $n = $c->sysread(my $buf, 65536);
		if (!defined $n) {
			next if $!{EAGAIN} || $!{EWOULDBLOCK} || $!{EINTR};
			last;
		}
		last if $n == 0;
		$got .= $buf;
	}

	close $c;
	return $got;
}

sub herd_chat {
	my ($addr, @lines) = @_;
	return herd_raw($addr, join '', map { /\n\z/ ? $_ : "$_\n" } @lines);
}

sub herd_wait_log {
	my ($t, $re, %opts) = @_;
	my $deadline = time() + ($opts{timeout} // 10);
	my $from = $opts{from} // 0;

	while (1) {
		my $log = eval { $t->read_file('error.log') } // '';
		my $tail = length($log) > $from ? substr($log, $from) : '';
		if (my @m = $tail =~ $re) {
			return $m[0];
		}
		return undef if time() >= $deadline;
		sleep(0.05);
	}
}

sub herd_reload {
	my ($t, %opts) = @_;
	my $deadline = time() + ($opts{timeout} // 10);

	my $log = eval { $t->read_file('error.log') } // '';
	my $from = length $log;

	$t->reload();

	while (1) {
		$log = eval { $t->read_file('error.log') } // '';
		my $tail = length($log) > $from ? substr($log, $from) : '';

		if ($tail =~ /reconfiguring/) {
			my $after = substr($tail, $-[0]);
			return 0 if $after =~ /\[emerg\]/;

			if ($after =~ /start worker process \d+/
				&& $after =~ /gracefully shutting down/)
			{
				# the old worker closes its listeners right
				# after logging that
				sleep(0.1);
				return 1;
			}
		}

		return 0 if time() >= $deadline;
		sleep(0.05);
	}
}

1;
