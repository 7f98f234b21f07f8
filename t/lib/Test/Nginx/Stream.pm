package Test::Nginx::Stream;

# herd's compatible subset of nginx-tests' lib/Test/Nginx/Stream.pm: a
# client socket for stream (TCP) and dgram (UDP) tests.  Same API and
# semantics as the real module: read() is ONE sysread of at most 1024 bytes
# (bytes, '' at EOF, undef on timeout); nothing here reads "a line" (that
# lives in t/lib/Herd/Util.pm).

use warnings;
use strict;

use base qw/ Exporter /;
our @EXPORT_OK = qw/ stream dgram /;

use IO::Select;
use IO::Socket;

use Test::Nginx;

sub stream {
	return Test::Nginx::Stream->new(@_);
}

sub dgram {
	unshift @_, 'PeerAddr' if @_ == 1;
	return Test::Nginx::Stream->new(Proto => 'udp', @_);
}

# new('127.0.0.1:8080') or new(PeerAddr => ..., other IO::Socket::INET args)
sub new {
	my $class = shift;
	my $self = bless {}, $class;

	unshift @_, 'PeerAddr' if @_ == 1;
	my %args = @_;
	die "SSL is not supported by this Test::Nginx::Stream\n"
		if $args{SSL};

	my $sock;
	my $ok = eval {
		local $SIG{ALRM} = sub { die "timeout\n" };
		local $SIG{PIPE} = sub { die "sigpipe\n" };
		alarm(8);

		$sock = IO::Socket::INET->new(
			Proto => 'tcp',
			PeerAddr => '127.0.0.1',
			@_
		) or die "Can't connect to nginx: $!\n";

		alarm(0);
		1;
	};
	alarm(0);

	unless ($ok) {
		log_in("died: $@");
		die $@;
	}

	$sock->autoflush(1);
	$self->{_socket} = $sock;

	return $self;
}

sub DESTROY {
	my ($self) = @_;
	local ($@, $!, $?);
	$self->{_socket}->close() if $self->{_socket};
}

# writes everything it can within write_timeout (default 1.5 s) per chunk;
# closes the socket when not everything could be written
sub write {
	my ($self, $message, %extra) = @_;
	my $s = $self->{_socket};

	local $SIG{PIPE} = 'IGNORE';

	$s->blocking(0);
	my $sel = IO::Select->new($s);

	while (length $message
		&& $sel->can_write($extra{write_timeout} || 1.5))
	{
		my $n = $s->syswrite($message);
		last unless $n;

		log_out(substr($message, 0, $n));
		substr($message, 0, $n, '');
	}

	$s->close() if length $message;
}

# one read of at most 1024 bytes: data, '' at EOF, undef on timeout/error
sub read {
	my ($self, %extra) = @_;
	my $s = $self->{_socket};
	my $buf;

	$s->blocking(0);
	my $sel = IO::Select->new($s);

	while ($sel->can_read($extra{read_timeout} // 8)) {
		my $n = $s->sysread($buf, 1024);
		if (!defined $n) {
			next if $!{EWOULDBLOCK} || $!{EAGAIN} || $!{EINTR};
			undef $buf;
		}
		last;
	}

	log_in($buf);
	return $buf;
}

# write $data, then read until EOF/timeout, or `read` reads, or `length`
# bytes; returns everything read
sub io {
	my ($self, $data, %extra) = @_;
	my $length = $extra{length};
	my $reads = $extra{read};

	$reads = 1 if !defined $reads
		&& $self->{_socket}->socktype() == SOCK_DGRAM;

	$self->write($data, %extra);

	my $got = '';
	while (!defined $reads || $reads-- > 0) {
		my $buf = $self->read(%extra);
		last unless defined $buf && length $buf;

		$got .= $buf;
		last if defined $length && length($got) >= $length;
	}

	return $got;
}

sub sockaddr {
	my ($self) = @_;
	return $self->{_socket}->sockaddr();
}

sub sockhost {
	my ($self) = @_;
	return $self->{_socket}->sockhost();
}

sub sockport {
	my ($self) = @_;
	return $self->{_socket}->sockport();
}

sub socket {
	my ($self) = @_;
	return $self->{_socket};
}

1;
