// SPDX-License-Identifier: MIT
/*
 * Host-side timestamps for a guest's serial console (tests/bench/resume.sh).
 *
 *   stamp [-c] [-q SOCKET] [-t SECONDS] [-u TEXT [-d SECONDS]] LOG -- COMMAND [ARG...]
 *
 * Runs COMMAND (QEMU with -serial stdio) with its standard output on a
 * pipe, and writes every line it prints to LOG as "SECONDS<TAB>LINE",
 * SECONDS being host CLOCK_MONOTONIC time, since just before COMMAND was
 * started, at which the line's last byte arrived (OVMF's screen-clearing
 * escapes and the first line of a kernel share one "line": the stamp
 * must be the line's end). Lines end at '\n' or '\r' (the loader's progress line is
 * redrawn with '\r': each redraw gets its own stamp); empty lines are
 * dropped. Guests are paused, restored and resumed, so their own clocks
 * say nothing about the time a resume takes: the host clock does.
 * With -c, lines are "SECONDS<TAB>CPU<TAB>LINE": CPU is the CPU time
 * COMMAND has used so far (user + system, all threads, /proc/PID/stat),
 * a second clock that a busy host inflates far less than wall time.
 *
 * -u TEXT: once a line containing TEXT has arrived, stop COMMAND (SIGTERM)
 * -d SECONDS later (default 0.5): for boots that would go on, e.g. into
 * the firmware's next boot option after a dry run. -t: stop COMMAND after
 * SECONDS in all. The last line of LOG is "SECONDS<TAB>STAMP-EXIT RC"
 * (RC 128+N after signal N; with -c, its CPU is COMMAND's total), or
 * STAMP-STOP / STAMP-TIMEOUT before it.
 * -q SOCKET: COMMAND is QEMU started paused (-S) with a QMP server on the
 * unix socket SOCKET. Once QEMU has finished setting up (its answer to
 * qmp_capabilities, which the main loop gives only after the machine,
 * e.g. its -mem-prealloc'ed RAM, is ready), the clocks start (wall and
 * CPU both count from there) and QMP "cont" starts the guest; the log's
 * first line is "STAMP-READY WALL CPU", the set-up's own cost.
 * Exit status: 0 when COMMAND exited by itself or was stopped by -u,
 * 124 on timeout, else COMMAND's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct timespec t0;

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9;
}

static pid_t pid;
static int cpu_col;
static double cpu_base;	/* CPU seconds before the clocks started (-q) */

/* CPU seconds used by pid so far: utime + stime, fields 14 and 15 */
static double cpu(void)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	unsigned long long ut, st;
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK) - cpu_base;
}

/* Read QMP's replies on @fd until a line containing @want; 0 when seen. */
static int qmp_wait(int fd, const char *want, double tmo)
{
	static char buf[1 << 14];
	size_t len = 0;
	while (now() < tmo) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		if (poll(&pf, 1, 100) <= 0)
			continue;
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			return -1;
		len += (size_t)n;
		buf[len] = 0;
		if (strstr(buf, want))
			return 0;
		if (strstr(buf, "\"error\""))
			return -1;
		if (len == sizeof(buf) - 1)
			len = 0;
	}
	return -1;
}

/*
 * -q: wait until QEMU answers on its QMP socket, restart the clocks, let
 * the guest run. Returns the wall and CPU seconds the set-up took, or -1.
 */
static double qmp_start(const char *path, double tmo, double *setup_cpu)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return -1;
	strcpy(sa.sun_path, path);
	int fd = -1;
	for (;;) {
		/* QEMU gone (left unreaped: main() reports its exit) */
		siginfo_t si = { 0 };
		if (now() >= tmo || waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) ||
		    si.si_pid)
			return -1;
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (fd >= 0 && !connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
			break;
		if (fd >= 0)
			close(fd);
		usleep(10000);
	}
	static const char caps[] = "{\"execute\": \"qmp_capabilities\"}\n";
	static const char cont[] = "{\"execute\": \"cont\"}\n";
	double t = -1;
	if (qmp_wait(fd, "\"QMP\"", tmo) ||
	    write(fd, caps, sizeof(caps) - 1) != (ssize_t)sizeof(caps) - 1 ||
	    qmp_wait(fd, "\"return\"", tmo))
		goto out;
	t = now();
	*setup_cpu = cpu();
	cpu_base = *setup_cpu;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (write(fd, cont, sizeof(cont) - 1) != (ssize_t)sizeof(cont) - 1 ||
	    qmp_wait(fd, "\"return\"", now() + 60))
		t = -1;
out:
	close(fd);
	return t;
}

static void put(FILE *log, double t, const char *text)
{
	if (cpu_col)
		fprintf(log, "%.3f\t%.2f\t%s\n", t, cpu(), text);
	else
		fprintf(log, "%.3f\t%s\n", t, text);
	fflush(log);
}

static void usage(void)
{
	fprintf(stderr, "usage: stamp [-c] [-q SOCKET] [-t SECONDS] [-u TEXT [-d SECONDS]] LOG -- COMMAND [ARG...]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	double tmo = 0, delay = 0.5, stop_at = -1;
	const char *until = NULL, *qmp = NULL;
	int c;

	while ((c = getopt(argc, argv, "+cq:t:u:d:")) != -1) {
		switch (c) {
		case 'c': cpu_col = 1; break;
		case 'q': qmp = optarg; break;
		case 't': tmo = atof(optarg); break;
		case 'u': until = optarg; break;
		case 'd': delay = atof(optarg); break;
		default: usage();
		}
	}
	if (optind + 1 >= argc)
		usage();
	const char *logname = argv[optind++];
	if (!strcmp(argv[optind], "--"))
		optind++;
	if (optind >= argc)
		usage();
	FILE *log = fopen(logname, "w");
	if (!log) {
		perror(logname);
		return 2;
	}

	int p[2];
	if (pipe(p)) {
		perror("pipe");
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return 2;
	}
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		execvp(argv[optind], argv + optind);
		perror(argv[optind]);
		_exit(127);
	}
	close(p[1]);
	if (qmp) {
		/* the set-up does not count against -t either */
		double setup_cpu = 0, setup = qmp_start(qmp, tmo > 0 ? tmo : 600, &setup_cpu);
		if (setup < 0) {
			put(log, now(), "STAMP-QMP-FAILED");
			kill(pid, SIGTERM);
		} else {
			fprintf(log, "0.000\t%sSTAMP-READY %.3f %.2f\n", cpu_col ? "0.00\t" : "",
				setup, setup_cpu);
		}
	}

	static char line[1 << 16];
	size_t len = 0;
	double line_t = 0;
	int timed_out = 0, stopped = 0, open_fd = 1;
	while (open_fd) {
		int wait_ms = -1;
		double t = now();
		if (tmo > 0)
			wait_ms = (int)((tmo - t) * 1000) + 1;
		if (stop_at >= 0) {
			int s = (int)((stop_at - t) * 1000) + 1;
			if (wait_ms < 0 || s < wait_ms)
				wait_ms = s;
		}
		if (wait_ms < 0 && (tmo > 0 || stop_at >= 0))
			wait_ms = 0;
		struct pollfd pf = { .fd = p[0], .events = POLLIN };
		int r = poll(&pf, 1, wait_ms);
		if (r < 0 && errno != EINTR)
			break;
		t = now();
		if (r > 0) {
			char buf[4096];
			ssize_t n = read(p[0], buf, sizeof(buf));
			if (n <= 0) {
				open_fd = 0;
			}
			for (ssize_t i = 0; i < n; i++) {
				char ch = buf[i];
				if (ch == '\n' || ch == '\r') {
					if (len) {
						line[len] = 0;
						put(log, line_t, line);
						if (until && stop_at == -1 && strstr(line, until))
							stop_at = t + delay;
					}
					len = 0;
					continue;
				}
				line_t = t;
				if (len < sizeof(line) - 1)
					line[len++] = ch;
			}
		}
		if (!stopped && stop_at >= 0 && t >= stop_at) {
			put(log, t, "STAMP-STOP");
			kill(pid, SIGTERM);
			stopped = 1;
			stop_at = -2;	/* stopped: no more deadlines */
			tmo = 0;
		}
		if (!stopped && !timed_out && tmo > 0 && t >= tmo) {
			put(log, t, "STAMP-TIMEOUT");
			kill(pid, SIGTERM);
			timed_out = 1;
			tmo = 0;
		}
	}
	if (len) {
		line[len] = 0;
		put(log, line_t, line);
	}
	int st = 0;
	struct rusage ru;
	while (wait4(pid, &st, 0, &ru) < 0 && errno == EINTR)
		;
	double t = now();
	int rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	if (cpu_col)
		fprintf(log, "%.3f\t%.2f\tSTAMP-EXIT %d\n", t,
			(double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
			(double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6 - cpu_base, rc);
	else
		fprintf(log, "%.3f\tSTAMP-EXIT %d\n", t, rc);
	fclose(log);
	if (timed_out)
		return 124;
	return stopped ? 0 : rc;
}
