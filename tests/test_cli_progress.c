/*
 * test_cli_progress.c - progress detection in real tools' output
 * (cli/progress.c): what each tool prints, and what must not count.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <string.h>

#include "progress.h"

/* Arrays, not pointers: Criterion runs each parameter in a fresh process,
 * where pointers into this one's data would not be valid. */
struct sample {
	char tool[32];
	char output[512]; /* raw bytes, escapes and '\r' included */
	int want;         /* best progress after feeding it, -1 none */
};

static struct sample samples[] = {
	{"ninja", "[1/4] Compiling C object a.o\n[3/4] Linking b\n", 75},
	{"meson", "[12/345] Compiling C object x.p/y.c.o\n", 3},
	{"cmake", "[ 45%] Building C object CMakeFiles/x.dir/a.c.o\n", 45},
	{"make+cmake", "[100%] Built target x\n", 100},
	{"pytest", "tests/test_a.py ....                    [ 45%]\n", 45},
	{"cargo", "    Building [=======>     ] 123/456: serde(build)\r", 26},
	{"pip", "   \xe2\x94\x81\xe2\x94\x81 1.2/5.0 MB 3.1 MB/s eta 0:00:02\r", 24},
	{"apt", "Reading database ... 45%\r", 45},
	{"dpkg", "Progress: [ 62%] [#########.........]\r", 62},
	{"rsync", "    1,234,567  45%    1.23MB/s    0:00:12 (xfr#5, to-chk=10/20)\r",
	 45},
	{"curl -#", "################                      42.5%\r", 42},
	{"curl meter",
	 "  % Total    % Received % Xferd  Average Speed   Time    Time     Time  Current\n"
	 "                                 Dload  Upload   Total   Spent    Left  Speed\n"
	 "\r  0  100M    0     0    0     0      0      0 --:--:-- --:--:-- --:--:--     0"
	 "\r 37  100M   37 37.0M    0     0  51.2M      0  0:00:01 --:--:--  0:00:01 51.2M\r",
	 37},
	{"wget dots", "     50K .......... .......... ..........  4% 1.23M 3s\n", 4},
	{"wget bar", "file.iso           45%[=======>            ]  45.0M  1.2MB/s    eta 30s \r",
	 45},
	{"meson test", " 7/20 proto_json                OK              0.01s\n", 35},
	{"ansi colors", "\x1b[1m\x1b[32m[ 80%]\x1b[0m Linking\n", 80},
	{"osc title", "\x1b]0;title 99%\x07[2/8] x\n", 25},
	{"redraw", "10%\r20%\r30%\r", 30},
	{"never backwards", "50%\n[1/10] again\n30%\n", 50},
	{"decimal", "progress 12.5%\n", 12},
	{"date", "2024/01/02 started\n", -1},
	{"path", "src/1/2/file.c\n", -1},
	{"ip prefix", "route 10.0.0.0/24 via 10.0.0.1\n", -1},
	{"over 100", "cpu 150%\n", -1},
	{"printf format", "warning: format '%d' expects int\n", -1},
	{"fraction too big", "24/7 support\n", -1},
	{"unterminated", "50%", -1},
};

ParameterizedTestParameters(progress, tools)
{
	return cr_make_param_array(struct sample, samples,
				   sizeof(samples) / sizeof(samples[0]));
}

ParameterizedTest(struct sample *s, progress, tools)
{
	struct cli_progress p;

	cli_progress_init(&p);
	cli_progress_feed(&p, s->output, strlen(s->output));
	cr_assert_eq(p.best, s->want, "%s: got %d, want %d", s->tool, p.best,
		     s->want);
}

Test(progress, curl_meter_rows)
{
	static const char out[] =
		"  % Total    % Received % Xferd  Average Speed   Time    Time     Time  Current\n"
		"                                 Dload  Upload   Total   Spent    Left  Speed\n"
		"\r  0  100M    0     0    0     0      0      0 --:--:-- --:--:-- --:--:--     0"
		"\r 37  100M   37 37.0M    0     0  51.2M      0  0:00:01 --:--:--  0:00:01 51.2M"
		"\r100  100M  100  100M    0     0  60.1M      0  0:00:01  0:00:01 --:--:-- 60.1M\n"
		"3 files changed\n";
	struct cli_progress p;

	cli_progress_init(&p);
	cli_progress_feed(&p, out, strlen(out));
	cr_assert_eq(p.best, 100);
	cr_assert_eq(p.curl_meter, 0, "the meter ends with its last row");
}

Test(progress, split_across_reads)
{
	static const char out[] = "[ 3/10] a\n[ 7/10] b\n";
	struct cli_progress p;
	int changed = 0;

	cli_progress_init(&p);
	for (size_t i = 0; i < strlen(out); i++)
		changed += cli_progress_feed(&p, out + i, 1);
	cr_assert_eq(p.best, 70);
	cr_assert_eq(changed, 2, "feed reports each rise once");
}

Test(progress, long_line_keeps_tail)
{
	char line[5000];
	struct cli_progress p;

	memset(line, 'x', sizeof(line));
	memcpy(line + sizeof(line) - 6, " 77%\n", 5);
	line[sizeof(line) - 1] = '\0';
	cli_progress_init(&p);
	cli_progress_feed(&p, line, strlen(line));
	cr_assert_eq(p.best, 77);
}
