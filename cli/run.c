/*
 * run.c - `raceboard run [options] -- COMMAND [ARGS...]`: runs a command
 * as a race.
 *
 * The main thread is a relay: it passes the command's output through
 * unchanged (a pseudo-terminal when our stdout is a terminal, pipes
 * otherwise), feeds it to the progress scanner, and turns signals and the
 * exit status into the final state. Everything that touches the network
 * happens on the reporter thread (report.c), so a slow or dead server can
 * never change the command's output, exit status or speed.
 */
/* posix_openpt, grantpt, unlockpt and ptsname are X/Open. */
#define _XOPEN_SOURCE 700

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "cmds.h"
#include "outlines.h"
#include "progress.h"
#include "report.h"

#define RELAY_BUF (64 * 1024)
#define DRAIN_IDLE_MS 500    /* after exit: output quiet this long = done */
#define DRAIN_MAX_MS 5000    /* after exit: stop relaying a daemon's output */
#define REPORT_TIMEOUT_MS 2000
#define FINAL_WAIT_MS 3000
#define DEFAULT_INTERVAL 5

struct run_opts {
	const char *id, *source, *title, *deeplink;
	int64_t eta;      /* -1 when not given */
	int64_t interval; /* seconds */
	int http;
	json_object *meta; /* owned; -m pairs */
	char **cmd;
};

/* One output stream of the child and where it goes. */
struct stream {
	int fd;           /* read end (pipe or pty master), -1 when done */
	int sink;         /* STDOUT_FILENO or STDERR_FILENO */
	struct cli_progress prog;
	struct cli_outlines lines; /* the output tail's lines */
};

struct child {
	pid_t pid;
	int pty;          /* pty master when one is used, else -1 */
	struct stream s[2];
	int exited, status;
	int64_t start_ms, exit_ms;
	int canceled;     /* we got SIGINT, SIGTERM or SIGHUP */
};

static const struct option long_opts[] = {
	{"server", required_argument, NULL, CLI_OPT_SERVER},
	{"token", required_argument, NULL, CLI_OPT_TOKEN},
	{"timeout", required_argument, NULL, CLI_OPT_TIMEOUT},
	{"help", no_argument, NULL, 'h'},
	{"id", required_argument, NULL, CLI_OPT_ID},
	{"source", required_argument, NULL, CLI_OPT_SOURCE},
	{"title", required_argument, NULL, CLI_OPT_TITLE},
	{"eta", required_argument, NULL, CLI_OPT_ETA},
	{"interval", required_argument, NULL, CLI_OPT_INTERVAL},
	{"deeplink", required_argument, NULL, CLI_OPT_DEEPLINK},
	{"meta", required_argument, NULL, 'm'},
	{"http", no_argument, NULL, CLI_OPT_HTTP},
	{0},
};

/* Parses the options before the command. Returns 0, -1 for --help, or
 * an exit status. */
static int parse_opts(int argc, char **argv, struct cli_global *g,
		      struct run_opts *o)
{
	int opt, rc;

	o->eta = -1;
	o->interval = DEFAULT_INTERVAL;
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:m:h", long_opts, NULL)) != -1) {
		rc = cli_global_option(g, "run", opt, optarg);
		if (rc < 0)
			return CLI_EXIT_USAGE;
		if (rc)
			continue;
		switch (opt) {
		case 'h': return -1;
		case CLI_OPT_ID: o->id = optarg; break;
		case CLI_OPT_SOURCE: o->source = optarg; break;
		case CLI_OPT_TITLE: o->title = optarg; break;
		case CLI_OPT_DEEPLINK: o->deeplink = optarg; break;
		case CLI_OPT_HTTP: o->http = 1; break;
		case CLI_OPT_ETA:
			if (cli_parse_int(optarg, &o->eta) || o->eta < 0)
				return cli_usage_error("run",
					"--eta wants seconds, got '%s'", optarg);
			break;
		case CLI_OPT_INTERVAL:
			if (cli_parse_int(optarg, &o->interval) ||
			    o->interval < 1 || o->interval > 86400)
				return cli_usage_error("run",
					"--interval wants seconds, got '%s'", optarg);
			break;
		case 'm':
			if (!o->meta)
				o->meta = json_object_new_object();
			if (!o->meta || cli_meta_add(o->meta, optarg))
				return cli_usage_error("run",
					"-m wants KEY=VALUE, got '%s'", optarg);
			break;
		default:
			return cli_usage_error("run", "%s option '%s'",
				opt == ':' ? "missing value for" : "unknown",
				argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return cli_usage_error("run", "which command? "
				       "(raceboard run [OPTIONS] -- COMMAND)");
	o->cmd = argv + optind;
	return 0;
}

/* Cuts s to at most max bytes without splitting a UTF-8 sequence. */
static void truncate_utf8(char *s, size_t max)
{
	size_t n = strlen(s);

	if (n <= max)
		return;
	while (max && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	s[max] = '\0';
}

/* The command line as a shell would read it back (quoted when needed). */
static char *command_line(char **cmd)
{
	size_t cap = 1, n = 0;
	char *out;

	for (char **a = cmd; *a; a++)
		cap += 4 * strlen(*a) + 3;
	out = malloc(cap);
	if (!out)
		return NULL;
	for (char **a = cmd; *a; a++) {
		int plain = **a && !(*a)[strspn(*a,
			"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
			"0123456789-_./=:,+@%")];

		if (a != cmd)
			out[n++] = ' ';
		if (plain) {
			strcpy(out + n, *a);
			n += strlen(*a);
			continue;
		}
		out[n++] = '\'';
		for (const char *c = *a; *c; c++) {
			if (*c == '\'') {
				memcpy(out + n, "'\\''", 4);
				n += 4;
			} else {
				out[n++] = *c;
			}
		}
		out[n++] = '\'';
	}
	out[n] = '\0';
	return out;
}

static void add_str(json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

/* The create body: everything known before the command starts. */
static json_object *create_body(struct run_opts *o, const char *id)
{
	json_object *b = json_object_new_object(), *m = json_object_new_object();
	char *cmdline = command_line(o->cmd), host[256] = "", cwd[4096] = "";
	struct passwd *pw = getpwuid(geteuid());
	const char *user = pw ? pw->pw_name : getenv("USER");

	if (!b || !m || !cmdline) {
		json_object_put(b);
		json_object_put(m);
		free(cmdline);
		return NULL;
	}
	gethostname(host, sizeof(host) - 1);
	if (!getcwd(cwd, sizeof(cwd)))
		cwd[0] = '\0';
	truncate_utf8(cmdline, 4000);
	add_str(m, "command", cmdline);
	add_str(m, "cwd", cwd);
	add_str(m, "host", host);
	add_str(m, "user", user ? user : "");
	if (o->meta) {
		json_object_object_foreach(o->meta, k, v)
			json_object_object_add(m, k, json_object_get(v));
	}
	truncate_utf8(cmdline, 1000);
	add_str(b, "id", id);
	add_str(b, "source", o->source ? o->source : "cmd");
	add_str(b, "title", o->title ? o->title : cmdline);
	add_str(b, "state", "running");
	json_object_object_add(b, "update_interval_hint",
			       json_object_new_int64(o->interval));
	if (o->eta >= 0)
		json_object_object_add(b, "eta_sec", json_object_new_int64(o->eta));
	if (o->deeplink)
		add_str(b, "deeplink", o->deeplink);
	json_object_object_add(b, "metadata", m);
	free(cmdline);
	return b;
}

static void make_id(char *buf, size_t cap)
{
	unsigned char r[8] = {0};

	if (getentropy(r, sizeof(r)))
		memcpy(r, &(int64_t){cli_now_ms() ^ getpid()}, sizeof(r));
	snprintf(buf, cap, "run-%02x%02x%02x%02x%02x%02x%02x%02x", r[0], r[1],
		 r[2], r[3], r[4], r[5], r[6], r[7]);
}

static int cloexec_pipe(int p[2])
{
	if (pipe(p))
		return -1;
	fcntl(p[0], F_SETFD, FD_CLOEXEC);
	fcntl(p[1], F_SETFD, FD_CLOEXEC);
	return 0;
}

/* Opens a pty whose slave looks like our terminal (modes and size). */
static int open_pty(int *master, int *slave)
{
	struct termios t;
	struct winsize ws;
	const char *name;

	*master = posix_openpt(O_RDWR | O_NOCTTY);
	if (*master < 0)
		return -1;
	fcntl(*master, F_SETFD, FD_CLOEXEC);
	if (grantpt(*master) || unlockpt(*master) ||
	    !(name = ptsname(*master)) ||
	    (*slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0) {
		close(*master);
		return -1;
	}
	/* Output processing (ONLCR, ...) is left to our own terminal, which
	 * applies it once when we write: the bytes it gets are then exactly
	 * those the command wrote. */
	if (!tcgetattr(STDOUT_FILENO, &t)) {
		t.c_oflag &= (tcflag_t)~OPOST;
		tcsetattr(*slave, TCSANOW, &t);
	}
	if (!ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws))
		ioctl(*slave, TIOCSWINSZ, &ws);
	return 0;
}

/* In the child: restore what the caller gave us, wire fds 1 and 2, exec.
 * Only async-signal-safe calls: another thread may hold malloc's lock. */
static void exec_child(char **cmd, const sigset_t *mask,
		       const struct sigaction *pipe_act, int out, int err)
{
	const char *e;

	sigaction(SIGPIPE, pipe_act, NULL);
	sigprocmask(SIG_SETMASK, mask, NULL);
	if (dup2(out, STDOUT_FILENO) < 0 || dup2(err, STDERR_FILENO) < 0)
		_exit(126);
	execvp(cmd[0], cmd);
	e = strerror(errno);
	if (write(STDERR_FILENO, "raceboard: cannot run '", 23) < 0 ||
	    write(STDERR_FILENO, cmd[0], strlen(cmd[0])) < 0 ||
	    write(STDERR_FILENO, "': ", 3) < 0 ||
	    write(STDERR_FILENO, e, strlen(e)) < 0 ||
	    write(STDERR_FILENO, "\n", 1) < 0)
		_exit(127);
	_exit(errno == ENOENT ? 127 : 126);
}

/* Starts the command. Returns 0, or -1 with nothing started. */
static int spawn(struct child *c, char **cmd, const sigset_t *mask,
		 const struct sigaction *pipe_act)
{
	int out[2] = {-1, -1}, err[2] = {-1, -1}, slave = -1;

	c->pty = -1;
	if (isatty(STDOUT_FILENO) && !open_pty(&c->pty, &slave)) {
		out[0] = c->pty;
		out[1] = slave;
		if (isatty(STDERR_FILENO))
			err[1] = slave;
		else if (cloexec_pipe(err))
			goto fail;
	} else if (cloexec_pipe(out) || cloexec_pipe(err)) {
		goto fail;
	}
	c->start_ms = cli_mono_ms();
	c->pid = fork();
	if (c->pid < 0)
		goto fail;
	if (c->pid == 0)
		exec_child(cmd, mask, pipe_act, out[1], err[1]);
	close(out[1]);
	if (err[1] != out[1])
		close(err[1]);
	c->s[0] = (struct stream){.fd = out[0], .sink = STDOUT_FILENO};
	c->s[1] = (struct stream){.fd = err[0], .sink = STDERR_FILENO};
	cli_progress_init(&c->s[0].prog);
	cli_progress_init(&c->s[1].prog);
	return 0;
fail:
	for (int i = 0; i < 2; i++) {
		if (out[i] >= 0)
			close(out[i]);
		if (err[i] >= 0 && err[i] != out[i])
			close(err[i]);
	}
	return -1;
}

/* Writes all of buf to fd. Returns 0, or -1 when fd is gone (EPIPE...). */
static int write_all(int fd, const char *buf, size_t n)
{
	while (n) {
		ssize_t w = write(fd, buf, n);

		if (w > 0) {
			buf += w;
			n -= (size_t)w;
		} else if (w < 0 && errno == EAGAIN) {
			struct pollfd p = {.fd = fd, .events = POLLOUT};

			poll(&p, 1, 1000);
		} else if (w < 0 && errno != EINTR) {
			return -1;
		}
	}
	return 0;
}

static void post_line(void *rep, const char *line, size_t len)
{
	(void)len;
	cli_report_output(rep, line);
}

/* Moves one read's worth of output, and its lines to the reporter.
 * Returns the best progress when it rose, else -1. */
static int relay(struct stream *s, char *buf, struct cli_report *rep)
{
	ssize_t n = read(s->fd, buf, RELAY_BUF);

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return -1;
	if (n <= 0) { /* EOF, or EIO: the pty's last writer closed */
		close(s->fd);
		s->fd = -1;
		return -1;
	}
	if (write_all(s->sink, buf, (size_t)n)) {
		/* Our reader left: let the command see a broken pipe too. */
		close(s->fd);
		s->fd = -1;
	}
	if (rep)
		cli_outlines_feed(&s->lines, buf, (size_t)n, post_line, rep);
	return cli_progress_feed(&s->prog, buf, (size_t)n) ? s->prog.best : -1;
}

static void on_signal(struct child *c, const struct signalfd_siginfo *si)
{
	int sig = (int)si->ssi_signo, st;
	struct winsize ws;

	switch (sig) {
	case SIGCHLD:
		if (!c->exited && waitpid(c->pid, &st, WNOHANG) == c->pid) {
			c->exited = 1;
			c->status = st;
			c->exit_ms = cli_mono_ms();
		}
		return;
	case SIGWINCH:
		if (c->pty >= 0 && !ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws))
			ioctl(c->pty, TIOCSWINSZ, &ws);
		return;
	case SIGINT:
	case SIGTERM:
	case SIGHUP:
		c->canceled = 1;
		break;
	default:
		break;
	}
	/* A terminal's Ctrl-C already reached the command (same process
	 * group); forward only signals sent to us alone. */
	if (!c->exited && si->ssi_code != SI_KERNEL)
		kill(c->pid, sig);
}

/* Relays output and signals until the command exited and its output
 * ended (or went quiet: a daemon may hold our pipes forever). */
static void supervise(struct child *c, int sigfd, struct cli_report *rep)
{
	char *buf = malloc(RELAY_BUF);

	while (buf) {
		struct pollfd p[3] = {{c->s[0].fd, POLLIN, 0},
				      {c->s[1].fd, POLLIN, 0},
				      {sigfd, POLLIN, 0}};
		int timeout = -1, r;

		if (c->exited) {
			if ((c->s[0].fd < 0 && c->s[1].fd < 0) ||
			    cli_mono_ms() - c->exit_ms > DRAIN_MAX_MS)
				break;
			timeout = DRAIN_IDLE_MS;
		}
		r = poll(p, 3, timeout);
		if (r < 0 && errno != EINTR)
			break;
		if (r == 0 && c->exited)
			break;
		for (int i = 0; i < 2; i++) {
			int best;

			if (c->s[i].fd < 0 || !p[i].revents)
				continue;
			best = relay(&c->s[i], buf, rep);
			if (best >= 0)
				cli_report_progress(rep, best);
		}
		if (p[2].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sigfd, &si, sizeof(si)) == sizeof(si))
				on_signal(c, &si);
		}
	}
	free(buf);
	if (!c->exited) {
		waitpid(c->pid, &c->status, 0);
		c->exited = 1;
		c->exit_ms = cli_mono_ms();
	}
	for (int i = 0; i < 2; i++)
		if (c->s[i].fd >= 0)
			close(c->s[i].fd);
}

/* Sends the final state and returns the command's exit status. */
static int report_end(struct child *c, struct cli_report *rep)
{
	int code, sig = 0, best = c->s[0].prog.best;
	const char *state;
	json_object *m = json_object_new_object();
	char buf[32];

	if (c->s[1].prog.best > best)
		best = c->s[1].prog.best;
	if (WIFSIGNALED(c->status)) {
		sig = WTERMSIG(c->status);
		code = 128 + sig;
	} else {
		code = WEXITSTATUS(c->status);
	}
	if (c->canceled || sig == SIGINT || sig == SIGTERM || sig == SIGHUP)
		state = "canceled";
	else
		state = code == 0 ? "passed" : "failed";
	snprintf(buf, sizeof(buf), "%d", code);
	add_str(m, "exit_code", buf);
	snprintf(buf, sizeof(buf), "%.3f", (double)(c->exit_ms - c->start_ms) /
		 1000.0);
	add_str(m, "duration_sec", buf);
	if (sig) {
		snprintf(buf, sizeof(buf), "%d", sig);
		add_str(m, "signal", buf);
	}
	(void)best;
	/* The final lines go with the final state, unfinished ones too. */
	for (int i = 0; rep && i < 2; i++)
		cli_outlines_flush(&c->s[i].lines, post_line, rep);
	cli_report_finish(rep, state, code == 0 && !c->canceled ? 100 : -1, m,
			  FINAL_WAIT_MS);
	return code;
}

int cli_cmd_run(int argc, char **argv, struct cli_global *g)
{
	struct run_opts o = {0};
	struct cli_report_cfg cfg = {0};
	struct cli_report *rep = NULL;
	struct child c = {0};
	struct sigaction ign = {.sa_handler = SIG_IGN}, pipe_act;
	sigset_t set, old;
	char id[160];
	int rc, sigfd;

	rc = parse_opts(argc, argv, g, &o);
	if (rc) {
		json_object_put(o.meta);
		if (rc < 0)
			cli_help_print("run");
		return rc < 0 ? CLI_EXIT_OK : rc;
	}
	g->timeout_ms = g->timeout_ms < REPORT_TIMEOUT_MS ? g->timeout_ms
							   : REPORT_TIMEOUT_MS;
	if (cli_global_api(g, "run", &cfg.api)) {
		json_object_put(o.meta);
		return CLI_EXIT_USAGE;
	}
	if (o.id)
		snprintf(id, sizeof(id), "%s", o.id);
	else
		make_id(id, sizeof(id));
	cfg.use_ws = !o.http;
	cfg.id = id;
	cfg.interval_ms = (int)o.interval * 1000;
	cfg.fixed_eta = o.eta >= 0;
	cfg.create_body = create_body(&o, id);
	json_object_put(o.meta);

	/* Signals become poll events; the reporter thread inherits the mask,
	 * and the command gets the caller's mask and SIGPIPE back. */
	sigemptyset(&set);
	for (int s = 0, sigs[] = {SIGCHLD, SIGINT, SIGTERM, SIGHUP, SIGQUIT,
				  SIGWINCH}; s < 6; s++)
		sigaddset(&set, sigs[s]);
	sigprocmask(SIG_BLOCK, &set, &old);
	sigaction(SIGPIPE, &ign, &pipe_act);
	sigfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (cfg.create_body)
		rep = cli_report_start(&cfg);
	if (sigfd < 0 || spawn(&c, o.cmd, &old, &pipe_act)) {
		fprintf(stderr, "raceboard run: cannot start '%s': %s\n",
			o.cmd[0], strerror(errno));
		cli_report_free(rep);
		return 126;
	}
	supervise(&c, sigfd, rep);
	close(sigfd);
	rc = report_end(&c, rep);
	cli_report_free(rep);
	return rc;
}
