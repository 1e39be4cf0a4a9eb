/*
 * The pod sandbox ("pause") process for the local node: containerd's CRI plugin
 * starts one per pod to hold its namespaces. It cannot be pulled here
 * (no registry.k8s.io), so image/build-pause.sh builds it from this file.
 *
 * It sleeps until SIGINT or SIGTERM (then exits 0) and, as PID 1 of the pod's
 * PID namespace, reaps every child that gets reparented to it.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_stop(int signum)
{
	(void)signum;
	_exit(0);
}

static void on_child(int signum)
{
	(void)signum;
	int saved = errno;
	while (waitpid(-1, NULL, WNOHANG) > 0) {
	}
	errno = saved;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "-v") == 0) {
		puts("driftless-pause 1.0");
		return 0;
	}
	if (getpid() != 1) {
		fputs("pause: warning: not running as PID 1, children will not be reaped here\n", stderr);
	}

	struct sigaction stop = {0};
	stop.sa_handler = on_stop;
	sigemptyset(&stop.sa_mask);
	if (sigaction(SIGINT, &stop, NULL) < 0 || sigaction(SIGTERM, &stop, NULL) < 0) {
		perror("pause: sigaction");
		return 1;
	}

	struct sigaction child = {0};
	child.sa_handler = on_child;
	sigemptyset(&child.sa_mask);
	child.sa_flags = SA_NOCLDSTOP | SA_RESTART;
	if (sigaction(SIGCHLD, &child, NULL) < 0) {
		perror("pause: sigaction");
		return 1;
	}

	for (;;) {
		pause();
	}
	return 42; /* unreachable */
}
