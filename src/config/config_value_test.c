/* config_value_test: unit tests for config/config_value.c, the value
 * syntaxes called directly rather than through a file. Every case is a row
 * in a table of designated initializers. Values as seen through cfg_load
 * (listen, CIDR, error texts) are tested in config_test.c. */
#include "config/config_value.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* ---- durations ---- */

struct duration_case {
	const char *text;
	int rc;
	uint64_t seconds;
};

static const struct duration_case duration_cases[] = {
	{ .text = "0", .rc = 0, .seconds = 0 },
	{ .text = "30", .rc = 0, .seconds = 30 },
	{ .text = "30s", .rc = 0, .seconds = 30 },
	{ .text = "5m", .rc = 0, .seconds = 300 },
	{ .text = "4h", .rc = 0, .seconds = 14400 },
	{ .text = "5d", .rc = 0, .seconds = 432000 },
	{ .text = "007m", .rc = 0, .seconds = 420 },
	{ .text = "18446744073709551615", .rc = 0,
	  .seconds = UINT64_MAX },
	{ .text = "18446744073709551615s", .rc = 0, .seconds = UINT64_MAX },
	{ .text = "213503982334601d", .rc = 0,
	  .seconds = 213503982334601ULL * 86400 },
	{ .text = "18446744073709551616", .rc = -1 },
	{ .text = "99999999999999999999999", .rc = -1 },
	{ .text = "213503982334602d", .rc = -1 },
	{ .text = "307445734561825861m", .rc = -1 },
	{ .text = "5124095576030432h", .rc = -1 },
	{ .text = "", .rc = -1 },
	{ .text = "m", .rc = -1 },
	{ .text = "5x", .rc = -1 },
	{ .text = "5M", .rc = -1 },
	{ .text = "5mm", .rc = -1 },
	{ .text = "5ms", .rc = -1 },
	{ .text = "1h30m", .rc = -1 },
	{ .text = "-5", .rc = -1 },
	{ .text = "+5", .rc = -1 },
	{ .text = " 5", .rc = -1 },
	{ .text = "5 ", .rc = -1 },
	{ .text = "5 s", .rc = -1 },
	{ .text = "1.5h", .rc = -1 },
	{ .text = "0x10", .rc = -1 },
};

static void test_durations(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof duration_cases / sizeof duration_cases[0];
	     i++) {
		const struct duration_case *c = &duration_cases[i];
		uint64_t s = 12345;

		if (cfg_parse_duration(c->text, &s) != c->rc)
			fail_msg("case %zu '%s': want rc %d", i, c->text,
				 c->rc);
		assert_true(s == (c->rc == 0 ? c->seconds : 12345));
	}
	assert_int_equal(cfg_parse_duration(NULL, NULL), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_durations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
