/*
 * eval.c - predict-eval: replays real CI job durations through the same
 * prediction code the server runs, and reports its accuracy next to the
 * three naive baselines of ../shared/data/ci-durations/baselines.py.
 *
 *   predict-eval [--no-context] [--strict] [--dump OUT.csv] [CSV]
 *   predict-eval --trace FILE...      (see eval_trace.c)
 *   predict-eval --eta [--dump OUT] tests/data/traces/JOB.txt...  (eval_eta.c)
 *
 * CSV columns: job,build,date,duration_sec,commit (the job may be quoted).
 * Rows are replayed in file order (the file is sorted by date, build, job,
 * the order baselines.py uses). Each row is predicted from earlier rows
 * only; only rows whose job has an earlier run are scored, as for the
 * baselines. The build number is the context (the "build" metadata key in
 * the server). --strict only lets a run count once it has finished
 * (build date + duration <= this row's build date), a stricter and more
 * realistic replay than the baselines' file order. The scores are also
 * reported for the first and second half of the rows (the file is in
 * date order; the estimator's global knobs were tuned on the first half).
 * --dump writes row,job,build,actual,predicted,confidence per scored row.
 *
 * This is a tool, not a library: it reads files and prints to stdout.
 */
#include "predict.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int eval_traces(int argc, char **argv);
int eval_eta(int argc, char **argv);

#define LINE_MAX_LEN 4096
#define BANDS 4

struct row {
	char *job;
	char build[32];
	int64_t start_ms;
	double dur;
	int job_id;
};

struct job {
	char *name;
	double *runs;   /* recorded durations, oldest first */
	size_t n, cap;
};

/* One predictor's scores. */
struct score {
	const char *name;
	size_t n;
	double abs_sum;
	double *ape;    /* n entries */
	size_t within;
	size_t cap;
};

static const double band_lo[BANDS] = { 0.0, 0.5, 0.7, 0.85 };

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (!p) {
		fprintf(stderr, "predict-eval: out of memory\n");
		exit(2);
	}
	return p;
}

static int64_t days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* "YYYY-MM-DD HH:MM" -> ms since the epoch (the zone is not stated). */
static int parse_date(const char *s, int64_t *ms)
{
	int y, mo, d, h, mi;
	if (sscanf(s, "%4d-%2d-%2d %2d:%2d", &y, &mo, &d, &h, &mi) != 5)
		return -1;
	*ms = ((days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60000LL;
	return 0;
}

/* Splits one CSV line into up to max fields in place (RFC 4180 quotes). */
static size_t split_csv(char *line, char **f, size_t max)
{
	size_t n = 0;
	char *p = line;
	while (n < max) {
		if (*p == '"') {
			char *w = ++p;
			f[n++] = w;
			while (*p && !(*p == '"' && p[1] != '"')) {
				if (*p == '"')
					p++;
				*w++ = *p++;
			}
			if (*p == '"')
				p++;
			*w = '\0';
			if (*p == ',')
				p++;
			else
				break;
		} else {
			f[n++] = p;
			char *c = strchr(p, ',');
			if (!c)
				break;
			*c = '\0';
			p = c + 1;
		}
	}
	return n;
}

static int job_id(struct job **jobs, size_t *n, const char *name)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp((*jobs)[i].name, name) == 0)
			return (int)i;
	*jobs = xrealloc(*jobs, (*n + 1) * sizeof **jobs);
	struct job *j = &(*jobs)[*n];
	memset(j, 0, sizeof *j);
	j->name = strdup(name);
	if (!j->name)
		xrealloc(NULL, 0);
	return (int)(*n)++;
}

static size_t load_csv(const char *path, struct row **rows, struct job **jobs,
		       size_t *n_jobs)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		perror(path);
		exit(2);
	}
	char line[LINE_MAX_LEN];
	size_t n = 0;
	int header = 1;
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (header || !*line) {
			header = 0;
			continue;
		}
		char *fld[5];
		if (split_csv(line, fld, 5) < 4)
			continue;
		*rows = xrealloc(*rows, (n + 1) * sizeof **rows);
		struct row *r = &(*rows)[n];
		r->job_id = job_id(jobs, n_jobs, fld[0]);
		r->job = (*jobs)[r->job_id].name;
		snprintf(r->build, sizeof r->build, "%s", fld[1]);
		if (parse_date(fld[2], &r->start_ms) != 0)
			continue;
		r->dur = atof(fld[3]);
		n++;
	}
	fclose(f);
	return n;
}

static void score_add(struct score *s, double pred, double actual)
{
	double e = fabs(pred - actual);
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 256;
		s->ape = xrealloc(s->ape, s->cap * sizeof *s->ape);
	}
	s->ape[s->n++] = actual > 0 ? e / actual : 0;
	s->abs_sum += e;
	if (e <= 0.2 * actual)
		s->within++;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void score_print(const struct score *s, size_t total)
{
	if (s->n == 0 || !s->ape) {
		printf("%-34s %6zu %8s\n", s->name, s->n, "-");
		return;
	}
	double *v = xrealloc(NULL, s->n * sizeof *v);
	memcpy(v, s->ape, s->n * sizeof *v);
	qsort(v, s->n, sizeof *v, cmp_double);
	double mdape = s->n % 2 ? v[s->n / 2] :
		0.5 * (v[s->n / 2 - 1] + v[s->n / 2]);
	free(v);
	printf("%-34s %6zu %7.1f%% %8.1f %8.1f%% %9.1f%%\n", s->name, s->n,
	       total ? 100.0 * (double)s->n / (double)total : 0.0,
	       s->abs_sum / (double)s->n, 100.0 * mdape,
	       100.0 * (double)s->within / (double)s->n);
}

static void score_header(void)
{
	printf("%-34s %6s %8s %8s %9s %10s\n", "predictor", "n", "coverage",
	       "MAE_s", "MdAPE", "within20");
}

static double median_of(const double *d, size_t n)
{
	double *v = xrealloc(NULL, n * sizeof *v);
	memcpy(v, d, n * sizeof *v);
	qsort(v, n, sizeof *v, cmp_double);
	double m = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
	free(v);
	return m;
}

/* Records row r into the model and the baselines' per-job history. */
static void record(struct pred_model *m, struct job *jobs,
		   const struct row *r, const char *key)
{
	int rc = pred_model_record(m, key, r->build, PRED_PASSED, r->dur,
				   r->start_ms + (int64_t)(r->dur * 1000));
	if (rc != PRED_OK) {
		fprintf(stderr, "predict-eval: record: %s\n", pred_strerror(rc));
		exit(2);
	}
	struct job *j = &jobs[r->job_id];
	if (j->n == j->cap) {
		j->cap = j->cap ? j->cap * 2 : 16;
		j->runs = xrealloc(j->runs, j->cap * sizeof *j->runs);
	}
	j->runs[j->n++] = r->dur;
}

static int run_csv(const char *path, int use_context, int strict,
		   FILE *dump)
{
	struct row *rows = NULL;
	struct job *jobs = NULL;
	size_t n_jobs = 0;
	size_t n = load_csv(path, &rows, &jobs, &n_jobs);

	char (*keys)[PRED_KEY_MAX] = xrealloc(NULL, n * sizeof *keys);
	for (size_t i = 0; i < n; i++)
		if (pred_key("buildkite", rows[i].job, NULL, 0, keys[i],
			     PRED_KEY_MAX) != PRED_OK) {
			fprintf(stderr, "predict-eval: key too long\n");
			return 2;
		}

	struct pred_model_limits lim = { .use_context = use_context };
	struct pred_model *m = pred_model_new(&lim);
	if (!m)
		xrealloc(NULL, 0);

	struct score base[3] = { { "(a) last value", .ape = NULL },
				 { "(b) mean of last 3", .ape = NULL },
				 { "(c) median of all earlier", .ape = NULL } };
	struct score model = { "pred_model_predict", .ape = NULL };
	/* The same split in two halves by row (the file is in date order):
	 * hyper-parameters were tuned on the first half only. */
	struct score half[2][2] = {
		{ { "  first half: (b) mean of last 3", .ape = NULL },
		  { "  first half: pred_model_predict", .ape = NULL } },
		{ { "  second half: (b) mean of last 3", .ape = NULL },
		  { "  second half: pred_model_predict", .ape = NULL } } };
	size_t half_scored[2] = { 0, 0 };
	struct score bands[BANDS] = { { "  confidence [0.00, 0.50)", .ape = NULL },
				      { "  confidence [0.50, 0.70)", .ape = NULL },
				      { "  confidence [0.70, 0.85)", .ape = NULL },
				      { "  confidence [0.85, 1.00]", .ape = NULL } };
	struct score first[3] = { { "  first runs: similar key (3)", .ape = NULL },
				  { "  first runs: source default (4)", .ape = NULL },
				  { "  first runs: none", .ape = NULL } };
	double conf_sum = 0;
	size_t scored = 0, first_runs = 0, ctx_applied = 0, not_exact = 0;

	/* Rows waiting to finish (strict mode), kept sorted by end time. */
	size_t *pending = xrealloc(NULL, n * sizeof *pending);
	size_t n_pending = 0;

	for (size_t i = 0; i < n; i++) {
		const struct row *r = &rows[i];
		while (strict && n_pending > 0) {
			const struct row *p = &rows[pending[0]];
			if (p->start_ms + (int64_t)(p->dur * 1000) > r->start_ms)
				break;
			record(m, jobs, p, keys[pending[0]]);
			memmove(pending, pending + 1, --n_pending * sizeof *pending);
		}
		struct job *j = &jobs[r->job_id];
		struct pred_estimate est;
		int rc = pred_model_predict(m, keys[i], r->build, &est);
		if (j->n > 0) {
			scored++;
			score_add(&base[0], j->runs[j->n - 1], r->dur);
			size_t k = j->n < 3 ? j->n : 3;
			double s = 0;
			for (size_t q = j->n - k; q < j->n; q++)
				s += j->runs[q];
			score_add(&base[1], s / (double)k, r->dur);
			int hf = i >= n / 2;
			half_scored[hf]++;
			score_add(&half[hf][0], s / (double)k, r->dur);
			if (rc == PRED_OK)
				score_add(&half[hf][1], est.total_sec, r->dur);
			score_add(&base[2], median_of(j->runs, j->n), r->dur);
			if (rc == PRED_OK) {
				score_add(&model, est.total_sec, r->dur);
				conf_sum += est.confidence;
				int b = BANDS - 1;
				while (b > 0 && est.confidence < band_lo[b])
					b--;
				score_add(&bands[b], est.total_sec, r->dur);
				if (est.context_factor != 1.0)
					ctx_applied++;
				if (est.basis != PRED_BASIS_EXACT)
					not_exact++;
				if (dump)
					fprintf(dump, "%zu,%d,%s,%.3f,%.3f,%.4f\n",
						i, r->job_id, r->build, r->dur,
						est.total_sec, est.confidence);
			}
		} else if (!strict || pred_model_history(m, keys[i]) == NULL) {
			first_runs++;
			if (rc != PRED_OK)
				first[2].n++;  /* no prediction: counted, not scored */
			else
				score_add(&first[est.basis == PRED_BASIS_SIMILAR ?
						 0 : 1], est.total_sec, r->dur);
		}
		if (strict) {
			size_t k = n_pending;
			int64_t end = r->start_ms + (int64_t)(r->dur * 1000);
			while (k > 0 && rows[pending[k - 1]].start_ms +
				(int64_t)(rows[pending[k - 1]].dur * 1000) > end) {
				pending[k] = pending[k - 1];
				k--;
			}
			pending[k] = i;
			n_pending++;
		} else {
			record(m, jobs, r, keys[i]);
		}
	}

	printf("%zu rows, %zu jobs, %zu distinct keys after pred_key()%s\n", n,
	       n_jobs, pred_model_count(m),
	       pred_model_count(m) == n_jobs ? "" : "  <-- keys merged jobs!");
	printf("replay: %s; build context: %s\n",
	       strict ? "strict (a run counts once it has finished)" :
			"file order (as baselines.py)",
	       use_context ? "on" : "off");
	printf("scored rows (job has an earlier run): %zu\n\n", scored);
	score_header();
	for (int b = 0; b < 3; b++)
		score_print(&base[b], scored);
	score_print(&model, scored);
	printf("  mean confidence %.3f; context factor applied on %zu rows; "
	       "non-exact basis on %zu rows\n", model.n ? conf_sum / (double)model.n : 0,
	       ctx_applied, not_exact);
	printf("\nby half of the rows (split at row %zu, %s):\n", n / 2,
	       n ? rows[n / 2].build : "-");
	for (int hf = 0; hf < 2; hf++)
		for (int b = 0; b < 2; b++)
			score_print(&half[hf][b], half_scored[hf]);
	printf("\nby confidence band (pred_model_predict):\n");
	for (int b = 0; b < BANDS; b++)
		score_print(&bands[b], model.n);
	printf("\nfirst run of each job (no own history; fallbacks): %zu rows\n",
	       first_runs);
	for (int b = 0; b < 3; b++)
		score_print(&first[b], first_runs);

	for (int b = 0; b < 3; b++)
		free(base[b].ape);
	for (int b = 0; b < BANDS; b++)
		free(bands[b].ape);
	for (int b = 0; b < 3; b++)
		free(first[b].ape);
	for (int hf = 0; hf < 2; hf++)
		for (int b = 0; b < 2; b++)
			free(half[hf][b].ape);
	free(model.ape);
	free(pending);
	free(keys);
	for (size_t q = 0; q < n_jobs; q++) {
		free(jobs[q].name);
		free(jobs[q].runs);
	}
	free(jobs);
	free(rows);
	pred_model_free(m);
	return 0;
}

int main(int argc, char **argv)
{
	int use_context = 1, strict = 0;
	FILE *dump = NULL;
	const char *path = "../shared/data/ci-durations/julia-buildkite.csv";
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--trace") == 0)
			return eval_traces(argc - i - 1, argv + i + 1);
		else if (strcmp(argv[i], "--eta") == 0)
			return eval_eta(argc - i - 1, argv + i + 1);
		else if (strcmp(argv[i], "--no-context") == 0)
			use_context = 0;
		else if (strcmp(argv[i], "--strict") == 0)
			strict = 1;
		else if (strcmp(argv[i], "--dump") == 0 && i + 1 < argc) {
			dump = fopen(argv[++i], "w");
			if (!dump) {
				perror(argv[i]);
				return 2;
			}
		} else if (argv[i][0] == '-') {
			fprintf(stderr, "usage: predict-eval [--no-context] "
				"[--strict] [--dump OUT.csv] [CSV] | "
				"--trace FILE... | --eta [--dump OUT.csv] "
				"FILE...\n");
			return 2;
		} else
			path = argv[i];
	}
	int rc = run_csv(path, use_context, strict, dump);
	if (dump)
		fclose(dump);
	return rc;
}
