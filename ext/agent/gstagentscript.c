/* gst-sip-agent
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The `script` backend: a dialog flow read from a keyfile. docs/scripts.md is
 * the reference of the format; this file is in three parts:
 *
 *  - understanding the caller: normalised tokens, phrase matching, and the
 *    slot parsers (yes/no, phone number, date, name, free text);
 *  - loading: gst-libs' keyfile line scanner (GKeyFile reports no line
 *    numbers and keeps the last of duplicate keys silently) with GKeyFile
 *    for the values, then validation of the whole flow so nothing can go
 *    wrong mid-call;
 *  - running: entering states, running actions, re-prompts and fallbacks,
 *    emitting outputs to the agent element.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstagentscript.h"
#include "gstagentevents.h"
#include <gst/sip/gstsipkeyfile.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

GST_DEBUG_CATEGORY_STATIC (agent_script_debug);
#define GST_CAT_DEFAULT agent_script_debug

#define BUILTIN_NAME "(built-in default script)"
#define DEFAULT_NO_MATCH "Sorry, I didn't catch that."
#define DEFAULT_NO_INPUT "Sorry, I didn't hear anything."
#define DEFAULT_RESUMED "Thank you for holding."
#define DEFAULT_FALLBACK \
  "say I'm sorry, I'm having trouble understanding. Goodbye.; hangup"
/* A failed transfer without a transfer-failed key: this, then back to the
 * state that was waiting for the caller when they asked for it. */
#define DEFAULT_TRANSFER_FAILED "I'm sorry, I could not connect you."
/* ... or, when there is no such state (a transfer right at the start) or
 * the transfer was the fallback of a caller the script could not
 * understand, this and a hangup. */
#define DEFAULT_TRANSFER_FAILED_BYE "Please call again later. Goodbye."
/* Transfers that fail one after the other with no word from the caller in
 * between (a transfer-failed that goes back to a state that transfers at
 * once): after this many the call ends instead of looping. */
#define MAX_TRANSFER_FAILURES 3
#define PHONE_MIN_DIGITS 7
#define PHONE_MAX_DIGITS 15
/* A bound on state changes while answering one input; the loader already
 * rejects loops of states that do not wait, this only guards the runtime. */
#define MAX_TRANSITIONS 64

/* ------------------------------------------------------------------------ */
/* Understanding the caller                                                  */
/* ------------------------------------------------------------------------ */

/* Lower case, punctuation turned into spaces (an apostrophe inside a word
 * stays: "it's", "o'brien"; so does a hyphen if asked: "anne-marie"),
 * single spaces, no leading/trailing space. */
static gchar *
normalize_text (const gchar *text, gboolean keep_hyphens)
{
  gchar *lower = g_utf8_strdown (text, -1);
  GString *out = g_string_new (NULL);
  const gchar *p = lower;
  gunichar prev = 0;

  while (*p) {
    gunichar c = g_utf8_get_char (p);
    const gchar *next = g_utf8_next_char (p);

    if (g_unichar_isalnum (c)) {
      g_string_append_unichar (out, c);
    } else if ((c == '\'' || c == 0x2019 || (keep_hyphens && c == '-')) &&
        g_unichar_isalnum (prev) && *next &&
        g_unichar_isalnum (g_utf8_get_char (next))) {
      g_string_append_c (out, c == '-' ? '-' : '\'');
    } else if (out->len > 0 && out->str[out->len - 1] != ' ') {
      g_string_append_c (out, ' ');
    }
    prev = c;
    p = next;
  }
  if (out->len > 0 && out->str[out->len - 1] == ' ')
    g_string_truncate (out, out->len - 1);
  g_free (lower);
  return g_string_free (out, FALSE);
}

static gchar **
tokenize_full (const gchar *text, gboolean keep_hyphens)
{
  gchar *norm = normalize_text (text, keep_hyphens);
  gchar **tokens;

  if (*norm == '\0')
    tokens = g_new0 (gchar *, 1);
  else
    tokens = g_strsplit (norm, " ", -1);
  g_free (norm);
  return tokens;
}

static gchar **
tokenize (const gchar *text)
{
  return tokenize_full (text, FALSE);
}

/* Where the phrase occurs as whole words in tokens, or -1. */
static gint
find_phrase (gchar **tokens, gchar **phrase)
{
  guint n = g_strv_length (tokens), m = g_strv_length (phrase), i, j;

  if (m == 0 || m > n)
    return -1;
  for (i = 0; i + m <= n; i++) {
    for (j = 0; j < m; j++) {
      if (strcmp (tokens[i + j], phrase[j]) != 0)
        break;
    }
    if (j == m)
      return (gint) i;
  }
  return -1;
}

static gboolean
has_phrase (gchar **tokens, const gchar *phrase)
{
  gchar **p = g_strsplit (phrase, " ", -1);
  gboolean found = find_phrase (tokens, p) >= 0;

  g_strfreev (p);
  return found;
}

static gboolean
has_any_phrase (gchar **tokens, const gchar *const *phrases)
{
  for (; *phrases; phrases++) {
    if (has_phrase (tokens, *phrases))
      return TRUE;
  }
  return FALSE;
}

static gboolean
is_digits (const gchar *s)
{
  if (*s == '\0')
    return FALSE;
  for (; *s; s++) {
    if (!g_ascii_isdigit (*s))
      return FALSE;
  }
  return TRUE;
}

static gint
word_index (const gchar *const *words, const gchar *w)
{
  gint i;

  for (i = 0; words[i]; i++) {
    if (strcmp (words[i], w) == 0)
      return i;
  }
  return -1;
}

static const gchar *const unit_words[] = {"zero", "one", "two", "three", "four",
    "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
    "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen", NULL};
static const gchar *const tens_words[] = {"", "", "twenty", "thirty", "forty",
    "fifty", "sixty", "seventy", "eighty", "ninety", NULL};
static const gchar *const ordinal_words[] = {"zeroth", "first", "second",
    "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
    "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth",
    "seventeenth", "eighteenth", "nineteenth", "twentieth", NULL};

/* 0-19 for "zero".."nineteen", else -1 */
static gint
unit_value (const gchar *w)
{
  return word_index (unit_words, w);
}

/* 20, 30 .. 90 for "twenty".."ninety", else -1 */
static gint
tens_value (const gchar *w)
{
  gint i = word_index (tens_words, w);

  return i >= 2 ? i * 10 : -1;
}

/* A number 0-99 spoken as words or digits at tokens[i]; returns how many
 * tokens it took (0: none). */
static guint
parse_small_number (gchar **tokens, guint i, gint *value)
{
  gint u, t;

  if (tokens[i] == NULL)
    return 0;
  if (is_digits (tokens[i]) && strlen (tokens[i]) <= 2) {
    *value = atoi (tokens[i]);
    return 1;
  }
  if ((u = unit_value (tokens[i])) >= 0) {
    *value = u;
    return 1;
  }
  if ((t = tens_value (tokens[i])) >= 0) {
    if (tokens[i + 1] && (u = unit_value (tokens[i + 1])) >= 1 && u <= 9) {
      *value = t + u;
      return 2;
    }
    *value = t;
    return 1;
  }
  return 0;
}

/* --- yes / no ----------------------------------------------------------- */

static const gchar *const yes_words[] = {"yes", "yeah", "yep", "yup", "ya",
    "yah", "correct", "right", "sure", "ok", "okay", "alright", "affirmative",
    "absolutely", "definitely", "certainly", "exactly", "indeed", "true",
    "uh huh", "mm hmm", "of course", "go ahead", "sounds good", "please do",
    NULL};
static const gchar *const no_words[] = {"no", "nope", "nah", "not", "incorrect",
    "wrong", "negative", "never", "don't", "isn't", "wasn't", "false", NULL};
/* Phrases with a "no" word in them that mean yes. */
static const gchar *const yes_despite_no[] = {
    "no problem", "not a problem", "why not", "no doubt", NULL};

/* 1 yes, 0 no, -1 neither */
static gint
parse_yesno (gchar **tokens)
{
  if (has_any_phrase (tokens, yes_despite_no))
    return 1;
  if (has_any_phrase (tokens, no_words))
    return 0;
  if (has_any_phrase (tokens, yes_words))
    return 1;
  return -1;
}

/* --- phone numbers ------------------------------------------------------ */

static void
append_repeated (GString *s, const gchar *digits, guint times)
{
  guint i;

  for (i = 0; i < times; i++)
    g_string_append (s, digits);
}

/* "five five five one two three four", "oh", "double five", "eight hundred",
 * "555-1234" (punctuation is gone by now, so "555 1234") -> "5551234".
 * Words that are not numbers ("my number is") are skipped. */
static gchar *
parse_phone (gchar **tokens)
{
  GString *d = g_string_new (NULL);
  guint repeat = 1, i;

  for (i = 0; tokens[i]; i++) {
    const gchar *t = tokens[i];
    gint u = unit_value (t), tens = tens_value (t), n;
    gchar buf[8];

    if (is_digits (t)) {
      append_repeated (d, t, repeat);
    } else if (strcmp (t, "oh") == 0 || strcmp (t, "o") == 0 || u == 0) {
      append_repeated (d, "0", repeat);
    } else if (u >= 1 && u <= 9) {
      g_snprintf (buf, sizeof (buf), "%d", u);
      append_repeated (d, buf, repeat);
    } else if (u >= 10) {
      g_string_append_printf (d, "%d", u);
    } else if (tens > 0) {
      guint used = parse_small_number (tokens, i, &n);

      g_string_append_printf (d, "%02d", n);
      i += used - 1;
    } else if (strcmp (t, "double") == 0) {
      repeat = 2;
      continue;
    } else if (strcmp (t, "triple") == 0) {
      repeat = 3;
      continue;
    } else if (strcmp (t, "hundred") == 0) {
      guint j = i + 1, used;

      /* "five hundred fifty" is a number; "eight hundred five five five"
       * is a toll-free prefix followed by digits. */
      if (tokens[j] && strcmp (tokens[j], "and") == 0)
        j++;
      if (tokens[j] &&
          (unit_value (tokens[j]) >= 10 || tens_value (tokens[j]) > 0)) {
        used = parse_small_number (tokens, j, &n);
        g_string_append_printf (d, "%02d", n);
        i = j + used - 1;
      } else {
        g_string_append (d, "00");
      }
    } else if (strcmp (t, "thousand") == 0) {
      g_string_append (d, "000");
    }
    repeat = 1;
  }
  if (d->len < PHONE_MIN_DIGITS || d->len > PHONE_MAX_DIGITS) {
    g_string_free (d, TRUE);
    return NULL;
  }
  return g_string_free (d, FALSE);
}

/* --- dates -------------------------------------------------------------- */

static const gchar *const month_words[] = {"", "january", "february", "march",
    "april", "may", "june", "july", "august", "september", "october",
    "november", "december", NULL};
static const gchar *const month_abbrevs[] = {"", "jan", "feb", "mar", "apr",
    "may", "jun", "jul", "aug", "sept", "oct", "nov", "dec", NULL};
static const gchar *const weekday_words[] = {"", "monday", "tuesday",
    "wednesday", "thursday", "friday", "saturday", "sunday", NULL};

static gint
month_value (const gchar *w)
{
  gint m = word_index (month_words, w);

  if (m < 1)
    m = word_index (month_abbrevs, w);
  if (m < 1 && strcmp (w, "sep") == 0)
    m = 9;
  return m >= 1 ? m : 0;
}

/* A day of the month at tokens[i]: "3", "3rd", "third", "twenty first",
 * "thirtieth", "twenty one". Returns tokens used. */
static guint
parse_day (gchar **tokens, guint i, gint *day)
{
  const gchar *t = tokens[i];
  gint o, tens, n;
  gchar *end;
  guint used;

  if (t == NULL)
    return 0;
  if (g_ascii_isdigit (t[0])) {
    glong v = strtol (t, &end, 10);

    if (*end == '\0' || strcmp (end, "st") == 0 || strcmp (end, "nd") == 0 ||
        strcmp (end, "rd") == 0 || strcmp (end, "th") == 0) {
      if (v >= 1 && v <= 31 && strlen (t) - strlen (end) <= 2) {
        *day = (gint) v;
        return 1;
      }
    }
    return 0;
  }
  if ((o = word_index (ordinal_words, t)) >= 1) {
    *day = o;
    return 1;
  }
  if (strcmp (t, "thirtieth") == 0) {
    *day = 30;
    return 1;
  }
  if ((tens = tens_value (t)) == 20 || tens == 30) {
    if (tokens[i + 1] && (o = word_index (ordinal_words, tokens[i + 1])) >= 1 &&
        o <= 9) {
      *day = tens + o;
      return 2;
    }
  }
  used = parse_small_number (tokens, i, &n);
  if (used > 0 && n >= 1 && n <= 31 && !is_digits (t)) {
    *day = n;
    return used;
  }
  return 0;
}

/* "2024", "twenty twenty four", "two thousand five", "nineteen ninety nine",
 * "twenty oh five". Returns tokens used. */
static guint
parse_year (gchar **tokens, guint i, gint *year)
{
  const gchar *t = tokens[i];
  gint century, n;
  guint used;

  if (t == NULL)
    return 0;
  if (is_digits (t) && strlen (t) == 4) {
    *year = atoi (t);
    return 1;
  }
  if (strcmp (t, "two") == 0 && tokens[i + 1] &&
      strcmp (tokens[i + 1], "thousand") == 0) {
    guint j = i + 2;

    if (tokens[j] && strcmp (tokens[j], "and") == 0)
      j++;
    used = parse_small_number (tokens, j, &n);
    *year = 2000 + (used ? n : 0);
    return j - i + used;
  }
  century = strcmp (t, "twenty") == 0 ? 20
      : strcmp (t, "nineteen") == 0   ? 19
                                      : 0;
  if (century == 0 || tokens[i + 1] == NULL)
    return 0;
  if ((strcmp (tokens[i + 1], "oh") == 0 || strcmp (tokens[i + 1], "o") == 0) &&
      tokens[i + 2] && (n = unit_value (tokens[i + 2])) >= 1 && n <= 9) {
    *year = century * 100 + n;
    return 3;
  }
  used = parse_small_number (tokens, i + 1, &n);
  if (used > 0 && n >= 10 && !is_digits (tokens[i + 1])) {
    *year = century * 100 + n;
    return 1 + used;
  }
  return 0;
}

static gboolean
date_from_dmy (gint day, gint month, gint year, GDate *out)
{
  if (year < 1 || year > 9999 || month < 1 || month > 12 || day < 1 || day > 31)
    return FALSE;
  if (!g_date_valid_dmy ((GDateDay) day, (GDateMonth) month, (GDateYear) year))
    return FALSE;
  g_date_set_dmy (out, (GDateDay) day, (GDateMonth) month, (GDateYear) year);
  return TRUE;
}

/* A month and day without a year: the nearest such date in the expected
 * direction (Feb 29 looks back/ahead for a leap year). */
static gboolean
date_nearest (
    gint day, gint month, const GDate *today, gboolean future, GDate *out)
{
  gint year = g_date_get_year (today), k;

  for (k = 0; k < 8; k++) {
    gint y = future ? year + k : year - k;

    if (date_from_dmy (day, month, y, out)) {
      if (future ? g_date_compare (out, today) >= 0
                 : g_date_compare (out, today) <= 0)
        return TRUE;
    }
  }
  return FALSE;
}

static gboolean
date_numeric (const gchar *raw, const GDate *today, gboolean future, GDate *out)
{
  GRegex *iso =
      g_regex_new ("\\b(\\d{4})-(\\d{1,2})-(\\d{1,2})\\b", 0, 0, NULL);
  GRegex *us = g_regex_new (
      "\\b(\\d{1,2})/(\\d{1,2})(?:/(\\d{4}|\\d{2}))?\\b", 0, 0, NULL);
  GMatchInfo *mi = NULL;
  gboolean ok = FALSE;

  if (g_regex_match (iso, raw, 0, &mi)) {
    gchar *y = g_match_info_fetch (mi, 1), *m = g_match_info_fetch (mi, 2),
          *d = g_match_info_fetch (mi, 3);

    ok = date_from_dmy (atoi (d), atoi (m), atoi (y), out);
    g_free (y);
    g_free (m);
    g_free (d);
  } else {
    g_match_info_free (mi);
    mi = NULL;
    if (g_regex_match (us, raw, 0, &mi)) {
      gchar *m = g_match_info_fetch (mi, 1), *d = g_match_info_fetch (mi, 2),
            *y = g_match_info_fetch (mi, 3);

      /* US order (month/day), as the callers of a US firm say and write it */
      if (y && *y) {
        gint year = atoi (y);

        if (strlen (y) == 2)
          year += 2000;
        ok = date_from_dmy (atoi (d), atoi (m), year, out);
      } else {
        ok = date_nearest (atoi (d), atoi (m), today, future, out);
      }
      g_free (y);
      g_free (m);
      g_free (d);
    }
  }
  g_match_info_free (mi);
  g_regex_unref (iso);
  g_regex_unref (us);
  return ok;
}

static gboolean
date_relative_words (gchar **tokens, const GDate *today, GDate *out)
{
  gint offset;

  if (has_phrase (tokens, "day before yesterday"))
    offset = -2;
  else if (has_phrase (tokens, "day after tomorrow"))
    offset = 2;
  else if (has_phrase (tokens, "yesterday") ||
      has_phrase (tokens, "last night"))
    offset = -1;
  else if (has_phrase (tokens, "tomorrow"))
    offset = 1;
  else if (has_phrase (tokens, "today") || has_phrase (tokens, "tonight") ||
      has_phrase (tokens, "this morning") ||
      has_phrase (tokens, "this afternoon") ||
      has_phrase (tokens, "this evening") || has_phrase (tokens, "just now"))
    offset = 0;
  else
    return FALSE;
  *out = *today;
  if (offset < 0)
    g_date_subtract_days (out, (guint) -offset);
  else
    g_date_add_days (out, (guint) offset);
  return TRUE;
}

/* "three days ago", "a week ago", "two months ago", "a couple of days ago" */
static gboolean
date_ago (gchar **tokens, const GDate *today, GDate *out)
{
  guint i;

  if (g_strv_length (tokens) < 3)
    return FALSE;
  for (i = 2; tokens[i]; i++) {
    const gchar *unit = tokens[i - 1];
    const gchar *count = tokens[i - 2];
    gint n = -1;

    if (strcmp (tokens[i], "ago") != 0)
      continue;
    if (strcmp (count, "a") == 0 || strcmp (count, "an") == 0 ||
        strcmp (count, "one") == 0)
      n = 1;
    else if (strcmp (count, "of") == 0 && i >= 4 &&
        strcmp (tokens[i - 3], "couple") == 0)
      n = 2;
    else if (is_digits (count))
      n = atoi (count);
    else if (unit_value (count) >= 1)
      n = unit_value (count);
    if (n < 1)
      return FALSE;
    *out = *today;
    if (g_str_has_prefix (unit, "day"))
      g_date_subtract_days (out, (guint) n);
    else if (g_str_has_prefix (unit, "week"))
      g_date_subtract_days (out, (guint) n * 7);
    else if (g_str_has_prefix (unit, "month"))
      g_date_subtract_months (out, (guint) n);
    else if (g_str_has_prefix (unit, "year"))
      g_date_subtract_years (out, (guint) n);
    else
      return FALSE;
    return TRUE;
  }
  return FALSE;
}

/* "friday", "last friday", "this friday", "next friday" */
static gboolean
date_weekday (gchar **tokens, const GDate *today, gboolean future, GDate *out)
{
  guint i;

  for (i = 0; tokens[i]; i++) {
    gint target = word_index (weekday_words, tokens[i]);
    gint now, back, ahead;
    const gchar *mod = i > 0 ? tokens[i - 1] : "";

    if (target < 1)
      continue;
    now = g_date_get_weekday (today);
    back = (now - target + 7) % 7;
    ahead = (target - now + 7) % 7;
    *out = *today;
    if (strcmp (mod, "last") == 0 || strcmp (mod, "past") == 0) {
      g_date_subtract_days (out, back == 0 ? 7 : back);
    } else if (strcmp (mod, "next") == 0 || strcmp (mod, "coming") == 0) {
      g_date_add_days (out, ahead == 0 ? 7 : ahead);
    } else if (future) {
      g_date_add_days (out, ahead);
    } else {
      g_date_subtract_days (out, back);
    }
    return TRUE;
  }
  return FALSE;
}

/* "march third", "march 3rd 2024", "the 3rd of march", "third of march" */
static gboolean
date_month_day (gchar **tokens, const GDate *today, gboolean future, GDate *out)
{
  guint i;

  for (i = 0; tokens[i]; i++) {
    gint month = month_value (tokens[i]), day = 0, year = 0;
    guint used = 0, after = i + 1;

    if (month == 0)
      continue;
    /* "may" is also a verb: only a month next to a day */
    if (tokens[after] && strcmp (tokens[after], "the") == 0)
      after++;
    used = parse_day (tokens, after, &day);
    if (used > 0) {
      after += used;
    } else if (i >= 2 && strcmp (tokens[i - 1], "of") == 0) {
      guint j;

      for (j = 0; j < i - 1 && used == 0; j++) {
        if (j + parse_day (tokens, j, &day) == i - 1)
          used = 1;
      }
    }
    if (used == 0)
      continue;
    if (tokens[after] &&
        (strcmp (tokens[after], "of") == 0 ||
            strcmp (tokens[after], "in") == 0))
      after++;
    if (parse_year (tokens, after, &year) > 0)
      return date_from_dmy (day, month, year, out);
    return date_nearest (day, month, today, future, out);
  }
  return FALSE;
}

static gboolean
parse_date (const gchar *raw, gchar **tokens, const GDate *today,
    gboolean future, GDate *out)
{
  gboolean ok = date_numeric (raw, today, future, out) ||
      date_month_day (tokens, today, future, out) ||
      date_relative_words (tokens, today, out) ||
      date_ago (tokens, today, out) ||
      date_weekday (tokens, today, future, out);

  if (!ok)
    return FALSE;
  /* an incident did not happen tomorrow, an appointment is not last week */
  return future ? g_date_compare (out, today) >= 0
                : g_date_compare (out, today) <= 0;
}

static gchar *
date_to_iso (const GDate *d)
{
  return g_strdup_printf ("%04u-%02u-%02u", g_date_get_year (d),
      g_date_get_month (d), g_date_get_day (d));
}

/* --- names -------------------------------------------------------------- */

static const gchar *const name_prefixes[] = {"my full name is", "my name is",
    "my name's", "the name is", "name is", "name's", "you can call me",
    "call me", "this is", "it's", "it is", "i am", "i'm", "yes", "yeah", "sure",
    "ok", "okay", "um", "uh", "hi", "hello", "so", "well", NULL};
static const gchar *const name_suffixes[] = {
    "thank you", "thanks", "please", NULL};
static const gchar *const name_fillers[] = {
    "spelled", "spelt", "that's", "um", "uh", "er", "like", "and", NULL};

/* Drops a known phrase at tokens[*first] (or ending at tokens[*last - 1]). */
static gboolean
strip_phrase (gchar **tokens, guint *first, guint *last,
    const gchar *const *phrases, gboolean at_start)
{
  guint k;

  for (k = 0; phrases[k]; k++) {
    gchar **p = g_strsplit (phrases[k], " ", -1);
    guint m = g_strv_length (p), j;
    guint at = at_start ? *first : *last - MIN (m, *last);
    gboolean match = *last - *first >= m;

    for (j = 0; match && j < m; j++)
      match = strcmp (tokens[at + j], p[j]) == 0;
    g_strfreev (p);
    if (match) {
      if (at_start)
        *first += m;
      else
        *last -= m;
      return TRUE;
    }
  }
  return FALSE;
}

static gboolean
is_single_letter (const gchar *t)
{
  return g_ascii_isalpha (t[0]) && t[1] == '\0';
}

/* "s-m-i-t-h" */
static gboolean
is_hyphen_spelled (const gchar *t)
{
  for (; *t; t += 2) {
    if (!g_ascii_isalpha (t[0]) || (t[1] != '-' && t[1] != '\0'))
      return FALSE;
    if (t[1] == '\0')
      return TRUE;
  }
  return FALSE;
}

static gchar *
capitalize_word (const gchar *w)
{
  gchar *out = g_strdup (w);
  gchar *p;
  gboolean start = TRUE;

  for (p = out; *p; p++) {
    if (start && g_ascii_isalpha (*p))
      *p = g_ascii_toupper (*p);
    start = (*p == '-' || *p == ' ');
  }
  return out;
}

/* A run of spelled letters becomes one word; a spoken word right before or
 * after that spells the same is dropped ("smith s m i t h"). */
static void
flush_spelled (GPtrArray *words, GString *letters, gchar **last_spelled)
{
  if (letters->len == 0)
    return;
  if (letters->len >= 2 && words->len > 0 &&
      g_ascii_strcasecmp (
          g_ptr_array_index (words, words->len - 1), letters->str) == 0)
    g_ptr_array_remove_index (words, words->len - 1);
  g_free (*last_spelled);
  *last_spelled = letters->len >= 2 ? g_strdup (letters->str) : NULL;
  g_ptr_array_add (words, g_strdup (letters->str));
  g_string_truncate (letters, 0);
}

static gchar *
parse_name (gchar **tokens)
{
  guint first = 0, last = g_strv_length (tokens), i, letters_total = 0;
  GPtrArray *words = g_ptr_array_new_with_free_func (g_free);
  GString *letters = g_string_new (NULL);
  gchar *last_spelled = NULL, *result = NULL;
  gboolean ok = TRUE;

  while (
      first < last && strip_phrase (tokens, &first, &last, name_prefixes, TRUE))
    ;
  while (first < last &&
      strip_phrase (tokens, &first, &last, name_suffixes, FALSE))
    ;
  for (i = first; i < last && ok; i++) {
    const gchar *t = tokens[i];

    if (word_index (name_fillers, t) >= 0)
      continue;
    if (is_single_letter (t)) {
      g_string_append_c (letters, t[0]);
      continue;
    }
    if (is_hyphen_spelled (t)) {
      for (; *t; t++) {
        if (*t != '-')
          g_string_append_c (letters, *t);
      }
      continue;
    }
    /* "one two three" is not a name */
    if (unit_value (t) >= 0 || tens_value (t) > 0)
      ok = FALSE;
    flush_spelled (words, letters, &last_spelled);
    if (last_spelled && g_ascii_strcasecmp (last_spelled, t) == 0)
      continue;
    g_clear_pointer (&last_spelled, g_free);
    for (; *t; t++) {
      if (!g_ascii_isalpha (*t) && *t != '\'' && *t != '-' &&
          (guchar) *t < 0x80)
        ok = FALSE;
    }
    g_ptr_array_add (words, g_strdup (tokens[i]));
  }
  flush_spelled (words, letters, &last_spelled);
  for (i = 0; i < words->len; i++)
    letters_total += strlen (g_ptr_array_index (words, i));
  if (words->len == 1 &&
      (word_index (yes_words, g_ptr_array_index (words, 0)) >= 0 ||
          word_index (no_words, g_ptr_array_index (words, 0)) >= 0))
    ok = FALSE;
  if (ok && words->len >= 1 && words->len <= 5 && letters_total >= 2) {
    GString *s = g_string_new (NULL);

    for (i = 0; i < words->len; i++) {
      gchar *w = capitalize_word (g_ptr_array_index (words, i));

      if (i > 0)
        g_string_append_c (s, ' ');
      g_string_append (s, w);
      g_free (w);
    }
    result = g_string_free (s, FALSE);
  }
  g_free (last_spelled);
  g_string_free (letters, TRUE);
  g_ptr_array_unref (words);
  return result;
}

/* ------------------------------------------------------------------------ */
/* The script                                                                */
/* ------------------------------------------------------------------------ */

typedef enum
{
  SLOT_NONE,
  SLOT_YESNO,
  SLOT_PHONE,
  SLOT_DATE,
  SLOT_NAME,
  SLOT_TEXT,
} SlotType;

static const gchar *const slot_names[] = {
    "", "yesno", "phone", "date", "name", "text", NULL};

typedef enum
{
  ACT_SAY,
  ACT_SET,
  ACT_GOTO,
  ACT_TRANSFER,
  ACT_HANGUP,
  ACT_REPEAT,
  ACT_CALLBACK,
  ACT_VOICE,
  ACT_SEND_DTMF,
} ActionType;

typedef struct _State State;

typedef struct
{
  ActionType type;
  gchar *arg; /* SAY text, SET field, GOTO state, TRANSFER target, VOICE
                name */
  gchar *value; /* SET value (a template) */
  State *target; /* GOTO, resolved after loading */
} Action;

typedef struct
{
  GPtrArray *actions;
  guint line;
} ActionList;

typedef struct
{
  gchar *name;
  GPtrArray *phrases; /* gchar ** token vectors */
  gchar **spoken; /* the phrases as written, for hints */
  ActionList *on;
  guint line;
} Intent;

#define N_DTMF 16

struct _State
{
  gchar *name;
  guint line;
  gchar *say, *reprompt, *no_match, *no_input;
  ActionList *next, *filled, *yes, *no, *fallback, *transfer_failed;
  GPtrArray *intents;
  Intent *dtmf[N_DTMF];
  SlotType slot;
  gchar *field;
  gboolean field_given;
  guint length;
  gboolean future;
  gint timeout_ms; /* -1: the script's */
  gint max_retries; /* -1: the script's */
  gint barge_in; /* -1: the script's */
  gchar **hints;
  gint closed; /* -1: decided from the slot and intents */
};

typedef struct
{
  gchar *filename;
  GHashTable *states; /* name -> State */
  GPtrArray *order; /* State, in file order */
  State *start;
  State *outbound_start; /* calls we placed start here, or NULL: start */
  State *global;
  guint timeout_ms;
  guint max_retries;
  gboolean barge_in;
  gchar *no_match, *no_input;
  gchar *resumed; /* said when the caller takes us off hold */
  ActionList *fallback;
  ActionList *transfer_failed;
} Script;

static void
action_free (Action *a)
{
  g_free (a->arg);
  g_free (a->value);
  g_free (a);
}

static void
action_list_free (ActionList *l)
{
  if (l == NULL)
    return;
  g_ptr_array_unref (l->actions);
  g_free (l);
}

static void
intent_free (Intent *i)
{
  g_free (i->name);
  g_ptr_array_unref (i->phrases);
  g_strfreev (i->spoken);
  action_list_free (i->on);
  g_free (i);
}

static State *
state_new (const gchar *name, guint line)
{
  State *s = g_new0 (State, 1);

  s->name = g_strdup (name);
  s->line = line;
  s->intents = g_ptr_array_new_with_free_func ((GDestroyNotify) intent_free);
  s->timeout_ms = -1;
  s->max_retries = -1;
  s->barge_in = -1;
  return s;
}

static void
state_free (State *s)
{
  g_free (s->name);
  g_free (s->say);
  g_free (s->reprompt);
  g_free (s->no_match);
  g_free (s->no_input);
  action_list_free (s->next);
  action_list_free (s->filled);
  action_list_free (s->yes);
  action_list_free (s->no);
  action_list_free (s->fallback);
  action_list_free (s->transfer_failed);
  g_ptr_array_unref (s->intents);
  g_free (s->field);
  g_strfreev (s->hints);
  g_free (s);
}

static void
script_free (Script *s)
{
  if (s == NULL)
    return;
  g_free (s->filename);
  g_hash_table_unref (s->states);
  g_ptr_array_unref (s->order);
  if (s->global)
    state_free (s->global);
  g_free (s->no_match);
  g_free (s->no_input);
  g_free (s->resumed);
  action_list_free (s->fallback);
  action_list_free (s->transfer_failed);
  g_free (s);
}

/* --- scanning lines ----------------------------------------------------- */

/* The keyfile with the line of every group and key (shared with the
 * gst-sip-agent server's configuration). */
typedef GstSipKeyGroup GroupLines;

typedef struct
{
  const gchar *filename;
  GstSipKeyFile *keys;
  GKeyFile *kf; /* keys->kf */
  GPtrArray *groups; /* keys->groups: GroupLines, in file order */
  Script *script;
  GHashTable *fields; /* every field the script can set */
  GPtrArray *templates; /* (template, line) pairs, checked at the end */
  GError **error;
} Loader;

/* FALSE, with @ld's error set to "FILE:LINE: message" */
#define fail(ld, line, ...) \
  gst_sip_key_file_fail ((ld)->keys, (ld)->error, (line), __VA_ARGS__)

static guint
key_line (Loader *ld, const gchar *group, const gchar *key)
{
  return gst_sip_key_file_line (ld->keys, group, key);
}

/* --- values ------------------------------------------------------------- */

static gchar *
get_value (Loader *ld, const gchar *group, const gchar *key)
{
  gchar *v = g_key_file_get_string (ld->kf, group, key, NULL);

  return v ? g_strstrip (v) : NULL;
}

static gboolean
get_required (Loader *ld, const gchar *group, const gchar *key, gchar **out)
{
  *out = get_value (ld, group, key);
  if (*out && **out == '\0') {
    g_clear_pointer (out, g_free);
    return fail (ld, key_line (ld, group, key), "%s needs a value", key);
  }
  return TRUE;
}

static gboolean
parse_boolean (Loader *ld, const gchar *group, const gchar *key, gint *out)
{
  gchar *v = get_value (ld, group, key);
  gboolean ok = TRUE;

  if (v == NULL)
    return TRUE;
  if (!g_ascii_strcasecmp (v, "true") || !g_ascii_strcasecmp (v, "yes") ||
      !strcmp (v, "1"))
    *out = 1;
  else if (!g_ascii_strcasecmp (v, "false") || !g_ascii_strcasecmp (v, "no") ||
      !strcmp (v, "0"))
    *out = 0;
  else
    ok = fail (ld, key_line (ld, group, key),
        "%s must be true or false, not \"%s\"", key, v);
  g_free (v);
  return ok;
}

static gboolean
parse_seconds (Loader *ld, const gchar *group, const gchar *key, gint *ms)
{
  gchar *v = get_value (ld, group, key), *end;
  gdouble s;
  gboolean ok = TRUE;

  if (v == NULL)
    return TRUE;
  s = g_ascii_strtod (v, &end);
  if (*v == '\0' || *end != '\0' || s < 0 || s > 3600)
    ok = fail (ld, key_line (ld, group, key),
        "%s must be a number of seconds (0-3600), not \"%s\"", key, v);
  else
    *ms = (gint) (s * 1000 + 0.5);
  g_free (v);
  return ok;
}

static gboolean
parse_count (
    Loader *ld, const gchar *group, const gchar *key, gint max, gint *out)
{
  gchar *v = get_value (ld, group, key), *end;
  gint64 n;
  gboolean ok = TRUE;

  if (v == NULL)
    return TRUE;
  n = g_ascii_strtoll (v, &end, 10);
  if (*v == '\0' || *end != '\0' || n < 0 || n > max)
    ok = fail (ld, key_line (ld, group, key),
        "%s must be a whole number from 0 to %d, not \"%s\"", key, max, v);
  else
    *out = (gint) n;
  g_free (v);
  return ok;
}

static gboolean
is_identifier (const gchar *s)
{
  if (*s == '\0')
    return FALSE;
  for (; *s; s++) {
    if (!g_ascii_isalnum (*s) && *s != '_' && *s != '-')
      return FALSE;
  }
  return TRUE;
}

static void
add_template (Loader *ld, const gchar *tmpl, guint line)
{
  g_ptr_array_add (ld->templates, g_strdup (tmpl));
  g_ptr_array_add (ld->templates, GUINT_TO_POINTER (line));
}

/* "say TEXT", "set FIELD=VALUE", "goto STATE", "transfer TARGET", "hangup",
 * "repeat", "voice NAME", "callback NUMBER", "send-dtmf KEYS" */
#define MAX_SEND_DTMF 32
static gboolean
parse_action (Loader *ld, const gchar *text, guint line, Action **out)
{
  gchar **parts = g_strsplit_set (text, " \t", 2);
  const gchar *verb = parts[0];
  gchar *arg = parts[1] ? g_strstrip (parts[1]) : NULL;
  Action *a = g_new0 (Action, 1);
  gboolean ok = TRUE, needs_arg = TRUE;

  if (!strcmp (verb, "say")) {
    a->type = ACT_SAY;
  } else if (!strcmp (verb, "set")) {
    a->type = ACT_SET;
  } else if (!strcmp (verb, "goto")) {
    a->type = ACT_GOTO;
  } else if (!strcmp (verb, "transfer")) {
    a->type = ACT_TRANSFER;
  } else if (!strcmp (verb, "voice")) {
    a->type = ACT_VOICE;
  } else if (!strcmp (verb, "callback")) {
    a->type = ACT_CALLBACK;
  } else if (!strcmp (verb, "send-dtmf")) {
    a->type = ACT_SEND_DTMF;
  } else if (!strcmp (verb, "hangup") || !strcmp (verb, "repeat")) {
    a->type = !strcmp (verb, "hangup") ? ACT_HANGUP : ACT_REPEAT;
    needs_arg = FALSE;
  } else {
    ok = fail (ld, line,
        "unknown action \"%s\" (expected say, set, voice, goto, transfer, "
        "callback, send-dtmf, hangup or repeat)",
        verb);
  }
  if (ok && needs_arg && (arg == NULL || *arg == '\0'))
    ok = fail (ld, line, "%s needs an argument", verb);
  else if (ok && !needs_arg && arg && *arg)
    ok = fail (ld, line, "%s takes no argument", verb);
  if (ok && a->type == ACT_SET) {
    gchar *eq = strchr (arg, '=');

    if (eq == NULL)
      ok = fail (ld, line, "set needs FIELD=VALUE, not \"%s\"", arg);
    else {
      a->arg = g_strstrip (g_strndup (arg, eq - arg));
      a->value = g_strstrip (g_strdup (eq + 1));
      if (!is_identifier (a->arg))
        ok = fail (ld, line, "bad field name \"%s\" (letters, digits, _ and -)",
            a->arg);
      else {
        g_hash_table_add (ld->fields, g_strdup (a->arg));
        add_template (ld, a->value, line);
      }
    }
  } else if (ok && a->type == ACT_VOICE) {
    gchar *backend, *voice, *why;

    /* only the form and the backend: ttsbridge knows its voices */
    if (!gst_agent_voice_name_parse (arg, &backend, &voice, &why)) {
      ok = fail (ld, line, "%s", why);
      g_free (why);
    } else {
      a->arg = g_strdup (arg);
      g_free (backend);
      g_free (voice);
    }
  } else if (ok && a->type == ACT_SEND_DTMF) {
    const gchar *k;

    for (k = arg; *k; k++) {
      if (!strchr ("0123456789*#ABCDabcd", *k))
        break;
    }
    if (*k != '\0' || strlen (arg) > MAX_SEND_DTMF)
      ok = fail (ld, line,
          "send-dtmf takes up to %d keys (0-9, *, #, A-D), not \"%s\"",
          MAX_SEND_DTMF, arg);
    else
      a->arg = g_ascii_strup (arg, -1);
  } else if (ok && needs_arg) {
    a->arg = g_strdup (arg);
    if (a->type == ACT_SAY || a->type == ACT_CALLBACK)
      add_template (ld, a->arg, line);
  }
  g_strfreev (parts);
  if (!ok) {
    action_free (a);
    return FALSE;
  }
  *out = a;
  return TRUE;
}

static gboolean
is_terminal (const Action *a)
{
  return a->type == ACT_GOTO || a->type == ACT_TRANSFER ||
      a->type == ACT_HANGUP || a->type == ACT_REPEAT || a->type == ACT_CALLBACK;
}

/* Actions are separated by ";"; only the last may leave the state. */
static gboolean
parse_action_list (Loader *ld, const gchar *group, const gchar *key,
    const gchar *value_override, guint line_override, ActionList **out)
{
  gchar *value =
      value_override ? g_strdup (value_override) : get_value (ld, group, key);
  guint line = line_override ? line_override : key_line (ld, group, key);
  gchar **items;
  ActionList *l;
  gboolean ok = TRUE;
  guint i;

  if (value == NULL)
    return TRUE;
  if (*value == '\0') {
    g_free (value);
    return fail (ld, line, "%s needs at least one action", key);
  }
  l = g_new0 (ActionList, 1);
  l->actions = g_ptr_array_new_with_free_func ((GDestroyNotify) action_free);
  l->line = line;
  items = g_strsplit (value, ";", -1);
  for (i = 0; items[i] && ok; i++) {
    Action *a;
    gchar *item = g_strstrip (items[i]);

    if (*item == '\0') {
      ok = fail (ld, line, "empty action in \"%s\"", value);
      break;
    }
    if ((ok = parse_action (ld, item, line, &a))) {
      if (l->actions->len > 0 &&
          is_terminal (g_ptr_array_index (l->actions, l->actions->len - 1)))
        ok = fail (ld, line,
            "nothing can follow goto, transfer, hangup or "
            "repeat (in \"%s\")",
            value);
      g_ptr_array_add (l->actions, a);
    }
  }
  g_strfreev (items);
  g_free (value);
  if (!ok) {
    action_list_free (l);
    return FALSE;
  }
  *out = l;
  return TRUE;
}

static gboolean
list_ends_state (const ActionList *l)
{
  const Action *a = g_ptr_array_index (l->actions, l->actions->len - 1);

  return a->type == ACT_GOTO || a->type == ACT_TRANSFER ||
      a->type == ACT_HANGUP || a->type == ACT_CALLBACK;
}

static gboolean
list_has (const ActionList *l, ActionType type)
{
  guint i;

  for (i = 0; i < l->actions->len; i++) {
    if (((Action *) g_ptr_array_index (l->actions, i))->type == type)
      return TRUE;
  }
  return FALSE;
}

static gboolean
parse_prompt (Loader *ld, const gchar *group, const gchar *key, gchar **out)
{
  *out = get_value (ld, group, key);
  if (*out)
    add_template (ld, *out, key_line (ld, group, key));
  return TRUE;
}

/* --- intents and DTMF --------------------------------------------------- */

static gint
dtmf_index (gchar digit)
{
  if (digit >= '0' && digit <= '9')
    return digit - '0';
  if (digit == '*')
    return 10;
  if (digit == '#')
    return 11;
  if (digit >= 'A' && digit <= 'D')
    return 12 + digit - 'A';
  return -1;
}

static Intent *
find_intent (State *s, const gchar *name)
{
  guint i;

  for (i = 0; s && i < s->intents->len; i++) {
    Intent *in = g_ptr_array_index (s->intents, i);

    if (!strcmp (in->name, name))
      return in;
  }
  return NULL;
}

static gboolean
parse_intent (Loader *ld, State *s, const gchar *group, const gchar *key)
{
  const gchar *name = key + strlen ("intent.");
  gchar *value, **items, *on_key;
  guint line = key_line (ld, group, key), i;
  Intent *in;
  gboolean ok;

  if (!is_identifier (name))
    return fail (ld, line, "bad intent name \"%s\"", name);
  if (!get_required (ld, group, key, &value))
    return FALSE;
  in = g_new0 (Intent, 1);
  in->name = g_strdup (name);
  in->line = line;
  in->phrases = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);
  items = g_strsplit (value, ",", -1);
  for (i = 0; items[i]; i++) {
    gchar **tokens = tokenize (items[i]);

    if (tokens[0] == NULL)
      g_strfreev (tokens);
    else
      g_ptr_array_add (in->phrases, tokens);
  }
  in->spoken = g_new0 (gchar *, in->phrases->len + 1);
  for (i = 0; i < in->phrases->len; i++)
    in->spoken[i] = g_strjoinv (" ", g_ptr_array_index (in->phrases, i));
  g_strfreev (items);
  g_free (value);
  g_ptr_array_add (s->intents, in);
  if (in->phrases->len == 0)
    return fail (ld, line, "intent \"%s\" has no phrases", name);
  on_key = g_strconcat ("on.", name, NULL);
  if (!g_key_file_has_key (ld->kf, group, on_key, NULL))
    ok = fail (ld, line, "intent \"%s\" has no %s = actions", name, on_key);
  else
    ok = parse_action_list (ld, group, on_key, NULL, 0, &in->on);
  g_free (on_key);
  return ok;
}

static gboolean
parse_intents (Loader *ld, State *s, const gchar *group, GroupLines *g)
{
  guint i;

  for (i = 0; i < g->key_order->len; i++) {
    const gchar *key = g_ptr_array_index (g->key_order, i);

    if (g_str_has_prefix (key, "intent.") && !parse_intent (ld, s, group, key))
      return FALSE;
  }
  for (i = 0; i < g->key_order->len; i++) {
    const gchar *key = g_ptr_array_index (g->key_order, i);

    if (g_str_has_prefix (key, "on.") &&
        find_intent (s, key + strlen ("on.")) == NULL)
      return fail (ld, key_line (ld, group, key), "%s without intent.%s", key,
          key + strlen ("on."));
  }
  return TRUE;
}

/* dtmf.N = INTENT, resolved against the state's and the global intents. */
static gboolean
parse_dtmf (Loader *ld, State *s, const gchar *group, GroupLines *g)
{
  guint i;

  for (i = 0; i < g->key_order->len; i++) {
    const gchar *key = g_ptr_array_index (g->key_order, i);
    const gchar *d = key + strlen ("dtmf.");
    guint line = key_line (ld, group, key);
    gchar *value;
    Intent *in;
    gint idx;

    if (!g_str_has_prefix (key, "dtmf."))
      continue;
    idx = strlen (d) == 1 ? dtmf_index (d[0]) : -1;
    if (idx < 0)
      return fail (ld, line, "%s: a DTMF key is one of 0-9, *, #, A-D", key);
    if (s->slot == SLOT_PHONE)
      return fail (ld, line,
          "%s in a phone slot state: keys there enter the number", key);
    if (!get_required (ld, group, key, &value))
      return FALSE;
    in = find_intent (s, value);
    if (in == NULL && s != ld->script->global)
      in = find_intent (ld->script->global, value);
    if (in == NULL) {
      fail (ld, line, "%s names unknown intent \"%s\"", key, value);
      g_free (value);
      return FALSE;
    }
    g_free (value);
    s->dtmf[idx] = in;
  }
  return TRUE;
}

/* --- groups ------------------------------------------------------------- */

static gboolean
check_keys (Loader *ld, GroupLines *g, const gchar *const *allowed,
    gboolean with_intents)
{
  guint i;

  for (i = 0; i < g->key_order->len; i++) {
    const gchar *key = g_ptr_array_index (g->key_order, i);

    if (word_index (allowed, key) >= 0)
      continue;
    if (with_intents &&
        (g_str_has_prefix (key, "intent.") || g_str_has_prefix (key, "on.") ||
            g_str_has_prefix (key, "dtmf.")))
      continue;
    return fail (ld, key_line (ld, g->name, key), "unknown key \"%s\" in [%s]",
        key, g->name);
  }
  return TRUE;
}

/* transfer-failed runs when the transfer it follows failed; a transfer in
 * it that fails too would run the same list again, for ever. A state that
 * transfers (with its own transfer-failed) is the way to try another
 * target. */
static gboolean
check_transfer_failed (Loader *ld, const ActionList *l)
{
  if (l == NULL)
    return TRUE;
  if (!list_ends_state (l))
    return fail (ld, l->line, "transfer-failed must end with goto or hangup");
  if (list_has (l, ACT_TRANSFER))
    return fail (ld, l->line,
        "transfer-failed cannot transfer again (it would run again when "
        "that fails): goto a state that transfers instead");
  if (list_has (l, ACT_REPEAT))
    return fail (ld, l->line, "repeat cannot be used in transfer-failed");
  return TRUE;
}

static gboolean
parse_script_group (Loader *ld, GroupLines *g)
{
  static const gchar *const allowed[] = {"start", "outbound-start", "timeout",
      "max-retries", "no-match", "no-input", "fallback", "transfer-failed",
      "barge-in", "resumed", NULL};
  Script *sc = ld->script;
  gint timeout = sc->timeout_ms, retries = sc->max_retries,
       barge_in = sc->barge_in;
  gchar *v;

  if (!check_keys (ld, g, allowed, FALSE) ||
      !parse_seconds (ld, g->name, "timeout", &timeout) ||
      !parse_count (ld, g->name, "max-retries", 100, &retries) ||
      !parse_boolean (ld, g->name, "barge-in", &barge_in) ||
      !parse_action_list (ld, g->name, "fallback", NULL, 0, &sc->fallback) ||
      !parse_action_list (
          ld, g->name, "transfer-failed", NULL, 0, &sc->transfer_failed) ||
      !check_transfer_failed (ld, sc->transfer_failed))
    return FALSE;
  sc->timeout_ms = timeout;
  sc->max_retries = retries;
  sc->barge_in = barge_in;
  if ((v = get_value (ld, g->name, "no-match"))) {
    g_free (sc->no_match);
    sc->no_match = v;
    add_template (ld, v, key_line (ld, g->name, "no-match"));
  }
  if ((v = get_value (ld, g->name, "no-input"))) {
    g_free (sc->no_input);
    sc->no_input = v;
    add_template (ld, v, key_line (ld, g->name, "no-input"));
  }
  if ((v = get_value (ld, g->name, "resumed"))) {
    g_free (sc->resumed);
    sc->resumed = v;
    add_template (ld, v, key_line (ld, g->name, "resumed"));
  }
  if (sc->fallback && !list_ends_state (sc->fallback))
    return fail (ld, sc->fallback->line,
        "fallback must end with goto, transfer or hangup");
  return TRUE;
}

static gboolean
parse_global_group (Loader *ld, GroupLines *g)
{
  static const gchar *const allowed[] = {NULL};

  ld->script->global = state_new ("global", g->line);
  return check_keys (ld, g, allowed, TRUE) &&
      parse_intents (ld, ld->script->global, g->name, g) &&
      parse_dtmf (ld, ld->script->global, g->name, g);
}

static gboolean
parse_slot (Loader *ld, State *s, const gchar *group)
{
  gchar *v;
  gint slot, length = 0, future = 0;

  if (!get_required (ld, group, "slot", &v))
    return FALSE;
  if (v == NULL)
    return TRUE;
  slot = word_index (slot_names, v);
  if (slot < 1) {
    fail (ld, key_line (ld, group, "slot"),
        "unknown slot type \"%s\" (expected yesno, phone, date, name or text)",
        v);
    g_free (v);
    return FALSE;
  }
  g_free (v);
  s->slot = (SlotType) slot;
  if (!parse_count (ld, group, "length", PHONE_MAX_DIGITS, &length))
    return FALSE;
  if (length > 0 && length < PHONE_MIN_DIGITS)
    return fail (ld, key_line (ld, group, "length"),
        "length must be from %d to %d digits", PHONE_MIN_DIGITS,
        PHONE_MAX_DIGITS);
  s->length = (guint) length;
  if ((v = get_value (ld, group, "dates"))) {
    if (!strcmp (v, "future"))
      future = 1;
    else if (strcmp (v, "past") != 0) {
      fail (ld, key_line (ld, group, "dates"),
          "dates must be past or future, not \"%s\"", v);
      g_free (v);
      return FALSE;
    }
    g_free (v);
  }
  s->future = future;
  return TRUE;
}

static gboolean
require_slot (Loader *ld, State *s, const gchar *group, const gchar *key,
    gboolean ok_for_slot)
{
  if (!g_key_file_has_key (ld->kf, group, key, NULL) || ok_for_slot)
    return TRUE;
  if (s->slot == SLOT_NONE)
    return fail (ld, key_line (ld, group, key), "%s without slot", key);
  return fail (ld, key_line (ld, group, key), "%s does not apply to slot = %s",
      key, slot_names[s->slot]);
}

static gboolean
check_slot_keys (Loader *ld, State *s, const gchar *group)
{
  guint slot_line = key_line (ld, group, "slot");

  if (!require_slot (ld, s, group, "field", s->slot != SLOT_NONE) ||
      !require_slot (ld, s, group, "filled",
          s->slot != SLOT_NONE && s->slot != SLOT_YESNO) ||
      !require_slot (ld, s, group, "yes", s->slot == SLOT_YESNO) ||
      !require_slot (ld, s, group, "no", s->slot == SLOT_YESNO) ||
      !require_slot (ld, s, group, "length", s->slot == SLOT_PHONE) ||
      !require_slot (ld, s, group, "dates", s->slot == SLOT_DATE))
    return FALSE;
  if (s->slot == SLOT_YESNO && (s->yes == NULL || s->no == NULL))
    return fail (ld, slot_line, "slot = yesno needs yes = and no = actions");
  if (s->slot != SLOT_NONE && s->slot != SLOT_YESNO && s->filled == NULL)
    return fail (
        ld, slot_line, "slot = %s needs filled = actions", slot_names[s->slot]);
  return TRUE;
}

static gboolean
check_state_shape (Loader *ld, State *s, const gchar *group)
{
  gboolean has_dtmf = FALSE;
  guint i;

  for (i = 0; i < N_DTMF; i++)
    has_dtmf |= s->dtmf[i] != NULL;
  if (s->next) {
    if (s->slot != SLOT_NONE || s->intents->len > 0 || has_dtmf)
      return fail (ld, s->next->line,
          "a state with next does not wait for input; it cannot also have a "
          "slot, intents or dtmf keys");
    if (!list_ends_state (s->next))
      return fail (
          ld, s->next->line, "next must end with goto, transfer or hangup");
  } else if (s->slot == SLOT_NONE && s->intents->len == 0 && !has_dtmf) {
    return fail (ld, s->line,
        "state \"%s\" waits for nothing: give it next, a slot or intents",
        s->name);
  }
  if (s->fallback && !list_ends_state (s->fallback))
    return fail (ld, s->fallback->line,
        "fallback must end with goto, transfer or hangup");
  return TRUE;
}

static gboolean
parse_state_options (Loader *ld, State *s, const gchar *group)
{
  gint closed = -1;
  gchar *v;

  if (!parse_seconds (ld, group, "timeout", &s->timeout_ms) ||
      !parse_count (ld, group, "max-retries", 100, &s->max_retries) ||
      !parse_boolean (ld, group, "barge-in", &s->barge_in) ||
      !parse_boolean (ld, group, "closed", &closed))
    return FALSE;
  s->closed = closed;
  if ((v = get_value (ld, group, "hints"))) {
    gchar **items = g_strsplit (v, ",", -1);
    guint i;

    for (i = 0; items[i]; i++)
      g_strstrip (items[i]);
    s->hints = items;
    g_free (v);
  }
  return TRUE;
}

static gboolean
parse_state_group (Loader *ld, GroupLines *g, const gchar *name)
{
  static const gchar *const allowed[] = {"say", "reprompt", "no-match",
      "no-input", "next", "slot", "field", "filled", "yes", "no", "length",
      "dates", "timeout", "max-retries", "fallback", "transfer-failed",
      "barge-in", "hints", "closed", NULL};
  State *s;
  const gchar *group = g->name;

  if (!is_identifier (name))
    return fail (
        ld, g->line, "bad state name \"%s\" (letters, digits, _ and -)", name);
  s = state_new (name, g->line);
  g_hash_table_insert (ld->script->states, s->name, s);
  g_ptr_array_add (ld->script->order, s);
  if (!check_keys (ld, g, allowed, TRUE) ||
      !parse_prompt (ld, group, "say", &s->say) ||
      !parse_prompt (ld, group, "reprompt", &s->reprompt) ||
      !parse_prompt (ld, group, "no-match", &s->no_match) ||
      !parse_prompt (ld, group, "no-input", &s->no_input) ||
      !parse_slot (ld, s, group) ||
      !parse_action_list (ld, group, "next", NULL, 0, &s->next) ||
      !parse_action_list (ld, group, "filled", NULL, 0, &s->filled) ||
      !parse_action_list (ld, group, "yes", NULL, 0, &s->yes) ||
      !parse_action_list (ld, group, "no", NULL, 0, &s->no) ||
      !parse_action_list (ld, group, "fallback", NULL, 0, &s->fallback) ||
      !parse_action_list (
          ld, group, "transfer-failed", NULL, 0, &s->transfer_failed) ||
      !check_transfer_failed (ld, s->transfer_failed) ||
      !parse_state_options (ld, s, group) || !check_slot_keys (ld, s, group) ||
      !parse_intents (ld, s, group, g) || !parse_dtmf (ld, s, group, g) ||
      !check_state_shape (ld, s, group))
    return FALSE;
  if (s->slot != SLOT_NONE) {
    s->field_given = g_key_file_has_key (ld->kf, group, "field", NULL);
    if (s->field_given && !get_required (ld, group, "field", &s->field))
      return FALSE;
    if (s->field == NULL)
      s->field = g_strdup (name);
    if (!is_identifier (s->field))
      return fail (
          ld, key_line (ld, group, "field"), "bad field name \"%s\"", s->field);
    if (s->slot != SLOT_YESNO || s->field_given)
      g_hash_table_add (ld->fields, g_strdup (s->field));
  }
  if ((s->next && list_has (s->next, ACT_REPEAT)) ||
      (s->fallback && list_has (s->fallback, ACT_REPEAT)))
    return fail (ld, s->next ? s->next->line : s->fallback->line,
        "repeat cannot be used in next or fallback");
  return TRUE;
}

/* --- whole-script checks ------------------------------------------------ */

static gboolean
resolve_list (Loader *ld, ActionList *l)
{
  guint i;

  for (i = 0; l && i < l->actions->len; i++) {
    Action *a = g_ptr_array_index (l->actions, i);

    if (a->type != ACT_GOTO)
      continue;
    a->target = g_hash_table_lookup (ld->script->states, a->arg);
    if (a->target == NULL)
      return fail (ld, l->line, "goto unknown state \"%s\"", a->arg);
  }
  return TRUE;
}

static gboolean
resolve_state (Loader *ld, State *s)
{
  guint i;

  if (!resolve_list (ld, s->next) || !resolve_list (ld, s->filled) ||
      !resolve_list (ld, s->yes) || !resolve_list (ld, s->no) ||
      !resolve_list (ld, s->fallback) || !resolve_list (ld, s->transfer_failed))
    return FALSE;
  for (i = 0; i < s->intents->len; i++) {
    Intent *in = g_ptr_array_index (s->intents, i);

    if (!resolve_list (ld, in->on))
      return FALSE;
  }
  return TRUE;
}

static gboolean
resolve_gotos (Loader *ld)
{
  Script *sc = ld->script;
  guint i;

  if (!resolve_list (ld, sc->fallback) ||
      !resolve_list (ld, sc->transfer_failed) ||
      (sc->global && !resolve_state (ld, sc->global)))
    return FALSE;
  for (i = 0; i < sc->order->len; i++) {
    if (!resolve_state (ld, g_ptr_array_index (sc->order, i)))
      return FALSE;
  }
  return TRUE;
}

static State *
next_target (State *s)
{
  const Action *a;

  if (s->next == NULL)
    return NULL;
  a = g_ptr_array_index (s->next->actions, s->next->actions->len - 1);
  return a->type == ACT_GOTO ? a->target : NULL;
}

/* States with next run straight into their target: a cycle of them would
 * talk forever without listening. */
static gboolean
check_next_loops (Loader *ld)
{
  Script *sc = ld->script;
  guint i, steps;

  for (i = 0; i < sc->order->len; i++) {
    State *s = g_ptr_array_index (sc->order, i), *t = s;

    for (steps = 0; (t = next_target (t)) != NULL; steps++) {
      if (t == s)
        return fail (ld, s->next->line,
            "state \"%s\" loops back to itself through next without waiting "
            "for input",
            s->name);
      if (steps > sc->order->len)
        break;
    }
  }
  return TRUE;
}

/* {field}, {field:digits}, {date:spoken}, {field|default} */
static gboolean
check_template (Loader *ld, const gchar *tmpl, guint line)
{
  const gchar *p = tmpl;

  while ((p = strpbrk (p, "{}")) != NULL) {
    const gchar *end;
    gchar *inner, *name, *filter, *bar;
    gboolean ok = TRUE;

    if (*p == '}')
      return fail (ld, line, "unmatched } in \"%s\"", tmpl);
    end = strchr (p, '}');
    if (end == NULL)
      return fail (ld, line, "unmatched { in \"%s\"", tmpl);
    inner = g_strndup (p + 1, end - p - 1);
    if ((bar = strchr (inner, '|')))
      *bar = '\0';
    name = inner;
    if ((filter = strchr (inner, ':')))
      *filter++ = '\0';
    if (strchr (name, '{'))
      ok = fail (ld, line, "unmatched { in \"%s\"", tmpl);
    else if (!is_identifier (name))
      ok = fail (ld, line, "bad field name \"{%s}\" in \"%s\"", name, tmpl);
    else if (filter && strcmp (filter, "digits") && strcmp (filter, "spoken"))
      ok = fail (ld, line,
          "unknown filter \":%s\" (expected :digits or :spoken)", filter);
    else if (strcmp (name, "heard") && strcmp (name, "call_id") &&
        !g_hash_table_contains (ld->fields, name))
      ok = fail (ld, line, "{%s} names a field this script never sets", name);
    g_free (inner);
    if (!ok)
      return FALSE;
    p = end + 1;
  }
  return TRUE;
}

static gboolean
check_templates (Loader *ld)
{
  guint i;

  for (i = 0; i + 1 < ld->templates->len; i += 2) {
    if (!check_template (ld, g_ptr_array_index (ld->templates, i),
            GPOINTER_TO_UINT (g_ptr_array_index (ld->templates, i + 1))))
      return FALSE;
  }
  return TRUE;
}

/* sttbridge makes closed hints a grammar: every word the phone parser
 * understands must be in it */
static const gchar *const phone_hints[] = {"zero", "oh", "one", "two", "three",
    "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
    "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen", "twenty", "thirty", "forty", "fifty", "sixty", "seventy",
    "eighty", "ninety", "hundred", "thousand", "double", "triple", NULL};
static const gchar *const date_hints[] = {"today", "yesterday", "last", "this",
    "next", "ago", "days", "weeks", "january", "february", "march", "april",
    "may", "june", "july", "august", "september", "october", "november",
    "december", "monday", "tuesday", "wednesday", "thursday", "friday",
    "saturday", "sunday", NULL};

static void
add_hints (GPtrArray *out, const gchar *const *words)
{
  guint i;

  for (; words && *words; words++) {
    for (i = 0; i < out->len; i++) {
      if (!strcmp (g_ptr_array_index (out, i), *words))
        break;
    }
    if (i == out->len && **words)
      g_ptr_array_add (out, g_strdup (*words));
  }
}

static void
add_intent_hints (GPtrArray *out, State *s)
{
  guint i;

  for (i = 0; s && i < s->intents->len; i++)
    add_hints (out,
        (const gchar *const *) ((Intent *) g_ptr_array_index (s->intents, i))
            ->spoken);
}

/* What sttbridge should listen for in each state, and whether nothing else
 * makes sense there (a menu, yes/no, digits). */
static void
compute_hints (Script *sc, State *s)
{
  GPtrArray *out = g_ptr_array_new ();
  gchar **extra = s->hints;

  add_intent_hints (out, s);
  if (s->slot == SLOT_YESNO) {
    add_hints (out, yes_words);
    add_hints (out, no_words);
  } else if (s->slot == SLOT_PHONE) {
    add_hints (out, phone_hints);
  } else if (s->slot == SLOT_DATE) {
    add_hints (out, date_hints);
  }
  add_hints (out, (const gchar *const *) extra);
  add_intent_hints (out, sc->global);
  g_ptr_array_add (out, NULL);
  g_strfreev (extra);
  s->hints = (gchar **) g_ptr_array_free (out, FALSE);
  if (s->closed < 0)
    s->closed = s->slot == SLOT_YESNO || s->slot == SLOT_PHONE ||
        (s->slot == SLOT_NONE && s->intents->len > 0);
}

static gboolean
parse_group (Loader *ld, GroupLines *g)
{
  if (!strcmp (g->name, "script"))
    return parse_script_group (ld, g);
  if (!strcmp (g->name, "global"))
    return parse_global_group (ld, g);
  if (g_str_has_prefix (g->name, "state "))
    return parse_state_group (ld, g, g_strstrip (g->name + 6));
  return fail (ld, g->line,
      "unknown group [%s] (expected [script], [global] or [state NAME])",
      g->name);
}

/* [script] and [global] first, wherever they are in the file: states'
 * dtmf keys may name global intents. */
static gboolean
parse_groups (Loader *ld)
{
  guint pass, i;

  for (pass = 0; pass < 2; pass++) {
    for (i = 0; i < ld->groups->len; i++) {
      GroupLines *g = g_ptr_array_index (ld->groups, i);
      gboolean is_state = g_str_has_prefix (g->name, "state ");

      if (is_state == (pass == 1) && !parse_group (ld, g))
        return FALSE;
    }
  }
  return TRUE;
}

static gboolean
check_start (Loader *ld)
{
  gchar *start;
  guint line;

  if (gst_sip_key_file_get_group (ld->keys, "script") == NULL)
    return fail (ld, 1, "no [script] group (it names the start state)");
  line = key_line (ld, "script", "start");
  if (!get_required (ld, "script", "start", &start))
    return FALSE;
  if (start == NULL)
    return fail (
        ld, key_line (ld, "script", NULL), "[script] has no start = STATE");
  ld->script->start = g_hash_table_lookup (ld->script->states, start);
  if (ld->script->start == NULL) {
    fail (ld, line, "start names unknown state \"%s\"", start);
    g_free (start);
    return FALSE;
  }
  g_free (start);
  line = key_line (ld, "script", "outbound-start");
  if (!get_required (ld, "script", "outbound-start", &start))
    return FALSE;
  if (start) {
    ld->script->outbound_start =
        g_hash_table_lookup (ld->script->states, start);
    if (ld->script->outbound_start == NULL) {
      fail (ld, line, "outbound-start names unknown state \"%s\"", start);
      g_free (start);
      return FALSE;
    }
    g_free (start);
  }
  return TRUE;
}

static void
add_targets (GPtrArray *todo, const ActionList *l)
{
  guint i;

  for (i = 0; l && i < l->actions->len; i++) {
    Action *a = g_ptr_array_index (l->actions, i);

    if (a->target)
      g_ptr_array_add (todo, a->target);
  }
}

static void
add_intent_targets (GPtrArray *todo, const State *s)
{
  guint i;

  for (i = 0; s && i < s->intents->len; i++)
    add_targets (todo, ((Intent *) g_ptr_array_index (s->intents, i))->on);
}

/* A state nothing leads to is legal but most likely a typo in a goto. */
static void
warn_unreachable (Script *sc)
{
  GHashTable *seen = g_hash_table_new (NULL, NULL);
  GPtrArray *todo = g_ptr_array_new ();
  guint i;

  g_ptr_array_add (todo, sc->start);
  if (sc->outbound_start)
    g_ptr_array_add (todo, sc->outbound_start);
  add_intent_targets (todo, sc->global);
  add_targets (todo, sc->fallback);
  add_targets (todo, sc->transfer_failed);
  while (todo->len > 0) {
    State *s = g_ptr_array_remove_index (todo, todo->len - 1);

    if (g_hash_table_contains (seen, s))
      continue;
    g_hash_table_add (seen, s);
    add_targets (todo, s->next);
    add_targets (todo, s->filled);
    add_targets (todo, s->yes);
    add_targets (todo, s->no);
    add_targets (todo, s->fallback);
    add_targets (todo, s->transfer_failed);
    add_intent_targets (todo, s);
  }
  for (i = 0; i < sc->order->len; i++) {
    State *s = g_ptr_array_index (sc->order, i);

    if (!g_hash_table_contains (seen, s))
      GST_WARNING ("%s:%u: state \"%s\" is never reached", sc->filename,
          s->line, s->name);
  }
  g_ptr_array_unref (todo);
  g_hash_table_unref (seen);
}

/* phrases are comma lists: the list separator is ours to choose */
static gboolean
load_keyfile (Loader *ld, const gchar *text)
{
  ld->keys = gst_sip_key_file_load (ld->filename, text, ',', ld->error);
  if (ld->keys == NULL)
    return FALSE;
  ld->kf = ld->keys->kf;
  ld->groups = ld->keys->groups;
  return TRUE;
}

static Script *
script_new (const gchar *filename, const GstAgentBackendConfig *config)
{
  Script *sc = g_new0 (Script, 1);

  sc->filename = g_strdup (filename);
  sc->states = g_hash_table_new_full (
      g_str_hash, g_str_equal, NULL, (GDestroyNotify) state_free);
  sc->order = g_ptr_array_new ();
  sc->timeout_ms = config->no_input_timeout_ms;
  sc->max_retries = config->max_retries;
  sc->barge_in = TRUE;
  sc->no_match = g_strdup (DEFAULT_NO_MATCH);
  sc->no_input = g_strdup (DEFAULT_NO_INPUT);
  sc->resumed = g_strdup (DEFAULT_RESUMED);
  return sc;
}

static Script *
script_parse (const gchar *filename, const gchar *text,
    const GstAgentBackendConfig *config, GError **error)
{
  Loader ld = {0};
  gboolean ok;
  guint i;

  ld.filename = filename;
  ld.error = error;
  ld.fields = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  ld.templates = g_ptr_array_new ();
  ld.script = script_new (filename, config);

  ok = load_keyfile (&ld, text) && parse_groups (&ld) && check_start (&ld) &&
      resolve_gotos (&ld) && check_next_loops (&ld) && check_templates (&ld);
  if (ok && ld.script->fallback == NULL)
    ok = parse_action_list (&ld, "script", "fallback", DEFAULT_FALLBACK,
        key_line (&ld, "script", NULL), &ld.script->fallback);
  if (ok) {
    for (i = 0; i < ld.script->order->len; i++)
      compute_hints (ld.script, g_ptr_array_index (ld.script->order, i));
    warn_unreachable (ld.script);
  } else {
    g_clear_pointer (&ld.script, script_free);
  }
  for (i = 0; i < ld.templates->len; i += 2)
    g_free (g_ptr_array_index (ld.templates, i));
  g_ptr_array_unref (ld.templates);
  g_hash_table_unref (ld.fields);
  gst_sip_key_file_free (ld.keys);
  return ld.script;
}

/* ------------------------------------------------------------------------ */
/* Running a conversation                                                    */
/* ------------------------------------------------------------------------ */

typedef struct
{
  GstAgentBackend parent;
  Script *script;
  gboolean outbound; /* the agent talks in calls we placed */

  /* the conversation; only the agent's dialog thread touches it */
  guint turn;
  State *state;
  guint retries;
  GString *dtmf;
  GHashTable *fields;
  gchar *call_id;
  gchar *heard;
  GDate today;
  gboolean ended;
  guint transitions;
  State *input_state; /* waiting for the caller when the input came */
  /* the last transfer: the state whose actions asked for it, the state to
   * go back to by default when it fails, and whether it was a fallback */
  State *transfer_state;
  State *transfer_return;
  gboolean transfer_from_fallback;
  guint transfer_failures; /* in a row, without caller input between */
} GstAgentScriptBackend;

static guint
state_timeout (GstAgentScriptBackend *self, State *s)
{
  return s->timeout_ms >= 0 ? (guint) s->timeout_ms : self->script->timeout_ms;
}

static guint
state_max_retries (GstAgentScriptBackend *self, State *s)
{
  return s->max_retries >= 0 ? (guint) s->max_retries
                             : self->script->max_retries;
}

static gboolean
state_barge_in (GstAgentScriptBackend *self, State *s)
{
  return s->barge_in >= 0 ? s->barge_in : self->script->barge_in;
}

static gchar *
spell_digits (const gchar *value)
{
  GString *s = g_string_new (NULL);

  for (; *value; value++) {
    if (!g_ascii_isalnum (*value))
      continue;
    if (s->len > 0)
      g_string_append_c (s, ' ');
    g_string_append_c (s, *value);
  }
  return g_string_free (s, FALSE);
}

/* "2024-03-08" -> "March 8, 2024"; anything else unchanged */
static gchar *
speak_date (const gchar *value)
{
  guint y, m, d;
  GDate date;

  if (sscanf (value, "%4u-%2u-%2u", &y, &m, &d) == 3 &&
      g_date_valid_dmy ((GDateDay) d, (GDateMonth) m, (GDateYear) y)) {
    g_date_clear (&date, 1);
    g_date_set_dmy (&date, (GDateDay) d, (GDateMonth) m, (GDateYear) y);
    return g_strdup_printf ("%c%s %u, %u", g_ascii_toupper (month_words[m][0]),
        month_words[m] + 1, d, y);
  }
  return g_strdup (value);
}

static const gchar *
lookup_field (GstAgentScriptBackend *self, const gchar *name)
{
  if (!strcmp (name, "heard"))
    return self->heard;
  if (!strcmp (name, "call_id"))
    return self->call_id;
  return g_hash_table_lookup (self->fields, name);
}

static gchar *
expand_template (GstAgentScriptBackend *self, const gchar *tmpl)
{
  GString *out = g_string_new (NULL);
  const gchar *p = tmpl, *open;

  while ((open = strchr (p, '{')) != NULL) {
    const gchar *close = strchr (open, '}');
    gchar *inner = g_strndup (open + 1, close - open - 1);
    gchar *def = strchr (inner, '|'), *filter, *v;
    const gchar *value;

    if (def)
      *def++ = '\0';
    if ((filter = strchr (inner, ':')))
      *filter++ = '\0';
    value = lookup_field (self, inner);
    if (value && *value && filter && !strcmp (filter, "digits"))
      v = spell_digits (value);
    else if (value && *value && filter && !strcmp (filter, "spoken"))
      v = speak_date (value);
    else
      v = g_strdup (value && *value ? value : def ? def : "");
    g_string_append_len (out, p, open - p);
    g_string_append (out, v);
    g_free (v);
    g_free (inner);
    p = close + 1;
  }
  g_string_append (out, p);
  return g_string_free (out, FALSE);
}

static void
emit_say (GstAgentScriptBackend *self, const gchar *tmpl)
{
  GstAgentOutput out = {0};
  gchar *text;

  if (tmpl == NULL || *tmpl == '\0')
    return;
  text = expand_template (self, tmpl);
  out.type = GST_AGENT_OUTPUT_SAY;
  out.turn = self->turn;
  out.state = self->state->name;
  out.text = text;
  out.barge_in = state_barge_in (self, self->state);
  gst_agent_backend_emit (&self->parent, &out);
  g_free (text);
}

static void
emit_voice (GstAgentScriptBackend *self, const gchar *voice)
{
  GstAgentOutput out = {0};

  out.type = GST_AGENT_OUTPUT_VOICE;
  out.turn = self->turn;
  out.state = self->state->name;
  out.voice = voice;
  gst_agent_backend_emit (&self->parent, &out);
}

static void
set_field (GstAgentScriptBackend *self, const gchar *field, const gchar *value)
{
  GstAgentOutput out = {0};

  g_hash_table_replace (self->fields, g_strdup (field), g_strdup (value));
  out.type = GST_AGENT_OUTPUT_FIELD;
  out.turn = self->turn;
  out.state = self->state->name;
  out.field = field;
  out.value = value;
  gst_agent_backend_emit (&self->parent, &out);
}

static void
emit_action (GstAgentScriptBackend *self, const gchar *action,
    const gchar *target, const gchar *reason)
{
  GstAgentOutput out = {0};

  self->ended = TRUE;
  out.type = GST_AGENT_OUTPUT_ACTION;
  out.turn = self->turn;
  out.state = self->state->name;
  out.action = action;
  out.target = target;
  out.reason = reason;
  gst_agent_backend_emit (&self->parent, &out);
}

/* Keys for the far end: an action that does not end the dialog. */
static void
emit_send_dtmf (
    GstAgentScriptBackend *self, const gchar *keys, const gchar *reason)
{
  GstAgentOutput out = {0};

  out.type = GST_AGENT_OUTPUT_ACTION;
  out.turn = self->turn;
  out.state = self->state->name;
  out.action = "send-dtmf";
  out.target = keys;
  out.reason = reason;
  gst_agent_backend_emit (&self->parent, &out);
}

static void run_actions (
    GstAgentScriptBackend *self, const ActionList *list, const gchar *reason);

static void
enter_state (GstAgentScriptBackend *self, State *s, const gchar *reason)
{
  GstAgentOutput out = {0};

  if (++self->transitions > MAX_TRANSITIONS) {
    GST_ERROR_OBJECT (self->parent.element,
        "more than %d state changes for one input, hanging up",
        MAX_TRANSITIONS);
    emit_action (self, "hangup", NULL, "script-loop");
    return;
  }
  GST_DEBUG_OBJECT (
      self->parent.element, "entering state %s (%s)", s->name, reason);
  self->state = s;
  self->retries = 0;
  g_string_truncate (self->dtmf, 0);
  out.type = GST_AGENT_OUTPUT_STATE;
  out.turn = self->turn;
  out.state = s->name;
  out.phrases = (const gchar *const *) s->hints;
  out.closed = s->closed;
  gst_agent_backend_emit (&self->parent, &out);
  emit_say (self, s->say);
  if (s->next)
    run_actions (self, s->next, "next");
}

static void
run_actions (
    GstAgentScriptBackend *self, const ActionList *list, const gchar *reason)
{
  guint i;

  for (i = 0; i < list->actions->len && !self->ended; i++) {
    const Action *a = g_ptr_array_index (list->actions, i);
    gchar *v;

    switch (a->type) {
      case ACT_SAY:
        emit_say (self, a->arg);
        break;
      case ACT_VOICE:
        emit_voice (self, a->arg);
        break;
      case ACT_SET:
        v = expand_template (self, a->value);
        set_field (self, a->arg, v);
        g_free (v);
        break;
      case ACT_GOTO:
        enter_state (self, a->target, reason);
        break;
      case ACT_TRANSFER:
        self->transfer_state = self->state;
        self->transfer_return = self->input_state;
        self->transfer_from_fallback = !g_strcmp0 (reason, "max-retries");
        emit_action (self, "transfer", a->arg, reason);
        break;
      case ACT_HANGUP:
        emit_action (self, "hangup", NULL, reason);
        break;
      case ACT_CALLBACK:
        v = expand_template (self, a->arg);
        emit_action (self, "callback", v, reason);
        g_free (v);
        break;
      case ACT_SEND_DTMF:
        emit_send_dtmf (self, a->arg, reason);
        break;
      case ACT_REPEAT:
        emit_say (self,
            self->state->reprompt ? self->state->reprompt : self->state->say);
        break;
    }
  }
}

/* No match or no input: say so and ask again, until max-retries; then the
 * fallback (the state's, the script's, or a polite hangup). */
static void
retry (GstAgentScriptBackend *self, gboolean no_input)
{
  State *s = self->state;
  const gchar *sorry;

  if (++self->retries > state_max_retries (self, s)) {
    run_actions (self, s->fallback ? s->fallback : self->script->fallback,
        "max-retries");
    return;
  }
  if (no_input)
    sorry = s->no_input ? s->no_input : self->script->no_input;
  else
    sorry = s->no_match ? s->no_match : self->script->no_match;
  emit_say (self, sorry);
  emit_say (self, s->reprompt ? s->reprompt : s->say);
}

/* The intent with the longest matching phrase; the first declared wins a
 * tie. */
static Intent *
best_intent (State *s, gchar **tokens)
{
  Intent *best = NULL;
  guint best_len = 0, i, j;

  for (i = 0; s && i < s->intents->len; i++) {
    Intent *in = g_ptr_array_index (s->intents, i);

    for (j = 0; j < in->phrases->len; j++) {
      gchar **p = g_ptr_array_index (in->phrases, j);
      guint len = g_strv_length (p);

      if (len > best_len && find_phrase (tokens, p) >= 0) {
        best = in;
        best_len = len;
      }
    }
  }
  return best;
}

static gchar *
run_intent (GstAgentScriptBackend *self, Intent *in, const gchar *how)
{
  gchar *reason = g_strconcat (how, ":", in->name, NULL);

  run_actions (self, in->on, reason);
  g_free (reason);
  return g_strdup (in->name);
}

static void
fill (GstAgentScriptBackend *self, const gchar *value, const ActionList *then,
    const gchar *reason)
{
  State *s = self->state;

  if (s->slot != SLOT_YESNO || s->field_given)
    set_field (self, s->field, value);
  run_actions (self, then, reason);
}

static gchar *
trimmed_text (const gchar *raw)
{
  gchar *t = g_strstrip (g_strdup (raw));

  return t;
}

/* The slot's value from an utterance, or NULL. */
static gchar *
slot_value (GstAgentScriptBackend *self, const gchar *raw, gchar **tokens)
{
  State *s = self->state;
  GDate date;
  gint yn;

  switch (s->slot) {
    case SLOT_YESNO:
      yn = parse_yesno (tokens);
      return yn < 0 ? NULL : g_strdup (yn ? "yes" : "no");
    case SLOT_PHONE:
      return parse_phone (tokens);
    case SLOT_DATE:
      g_date_clear (&date, 1);
      if (!parse_date (raw, tokens, &self->today, s->future, &date))
        return NULL;
      return date_to_iso (&date);
    case SLOT_NAME: {
      gchar **words = tokenize_full (raw, TRUE);
      gchar *name = parse_name (words);

      g_strfreev (words);
      return name;
    }
    case SLOT_TEXT:
      return tokens[0] ? trimmed_text (raw) : NULL;
    case SLOT_NONE:
      break;
  }
  return NULL;
}

static gchar *
fill_slot (GstAgentScriptBackend *self, const gchar *value)
{
  State *s = self->state;

  if (s->slot == SLOT_YESNO) {
    gboolean yes = !strcmp (value, "yes");

    fill (self, value, yes ? s->yes : s->no, value);
    return g_strdup (value);
  }
  fill (self, value, s->filled, "filled");
  return g_strdup (slot_names[s->slot]);
}

static gchar *
handle_utterance (GstAgentScriptBackend *self, const gchar *text)
{
  gchar **tokens = tokenize (text);
  State *s = self->state;
  Intent *in;
  gchar *value, *matched = NULL;

  g_free (self->heard);
  self->heard = trimmed_text (text);
  if (tokens[0] == NULL) {
    /* sttbridge heard speech but no words: that is a no-match */
  } else if ((in = best_intent (s, tokens)) != NULL) {
    matched = run_intent (self, in, "intent");
  } else if ((value = slot_value (self, text, tokens)) != NULL) {
    matched = fill_slot (self, value);
    g_free (value);
  } else if ((in = best_intent (self->script->global, tokens)) != NULL) {
    matched = run_intent (self, in, "intent");
  }
  if (matched == NULL) {
    retry (self, FALSE);
    matched = g_strdup ("no-match");
  }
  g_strfreev (tokens);
  return matched;
}

/* A number keyed on the phone: '#' ends it, '*' starts over, a full
 * length (or 15 digits) ends it too. Returns NULL while still collecting. */
static gchar *
collect_phone_digit (GstAgentScriptBackend *self, gchar digit, gchar **heard)
{
  gchar *digits, *matched;

  if (digit == '*') {
    g_string_truncate (self->dtmf, 0);
    return NULL;
  }
  if (g_ascii_isdigit (digit))
    g_string_append_c (self->dtmf, digit);
  if (digit != '#' &&
      (self->state->length == 0 || self->dtmf->len < self->state->length) &&
      self->dtmf->len < PHONE_MAX_DIGITS)
    return NULL;
  digits = g_string_free (self->dtmf, FALSE);
  self->dtmf = g_string_new (NULL);
  *heard = g_strconcat (digits, digit == '#' ? "#" : "", NULL);
  if (strlen (digits) >= PHONE_MIN_DIGITS) {
    matched = fill_slot (self, digits);
  } else {
    retry (self, FALSE);
    matched = g_strdup ("no-match");
  }
  g_free (digits);
  return matched;
}

static gchar *
handle_dtmf (GstAgentScriptBackend *self, gchar digit, gchar **heard)
{
  State *s = self->state;
  gint idx = dtmf_index (digit);
  Intent *in = NULL;

  if (s->slot == SLOT_PHONE)
    return collect_phone_digit (self, digit, heard);
  *heard = g_strdup_printf ("%c", digit);
  if (s->slot == SLOT_YESNO && (digit == '1' || digit == '2'))
    return fill_slot (self, digit == '1' ? "yes" : "no");
  if (idx >= 0)
    in = s->dtmf[idx];
  if (in == NULL && idx >= 0 && self->script->global)
    in = self->script->global->dtmf[idx];
  if (in)
    return run_intent (self, in, "dtmf");
  retry (self, FALSE);
  return g_strdup ("no-match");
}

/* Back from hold: what was being said was cut, so say where we are. Not
 * a retry: the caller did nothing wrong. */
static gchar *
handle_resumed (GstAgentScriptBackend *self)
{
  State *s = self->state;

  emit_say (self, self->script->resumed);
  emit_say (self, s->reprompt ? s->reprompt : s->say);
  return g_strdup ("resumed");
}

static gchar *
handle_no_input (GstAgentScriptBackend *self, gchar **heard)
{
  /* digits keyed without '#': the pause ends the number */
  if (self->state->slot == SLOT_PHONE && self->dtmf->len > 0)
    return collect_phone_digit (self, '#', heard);
  retry (self, TRUE);
  return g_strdup ("no-input");
}

/* The transfer asked for in self->transfer_state did not happen and the
 * caller is still there: that state's transfer-failed, the script's, or
 * an apology and back to the state that was waiting for the caller. */
static gchar *
handle_transfer_failed (
    GstAgentScriptBackend *self, const GstAgentInput *input, gchar **heard)
{
  State *s = self->transfer_state;
  const ActionList *list;

  *heard = g_strdup_printf ("transfer to %s failed (%d)",
      input->text ? input->text : "?", input->status);
  self->ended = FALSE;
  self->state = s;
  list =
      s->transfer_failed ? s->transfer_failed : self->script->transfer_failed;
  if (++self->transfer_failures >= MAX_TRANSFER_FAILURES) {
    GST_WARNING_OBJECT (self->parent.element,
        "%u transfers failed in a row, ending the call",
        self->transfer_failures);
    emit_say (self, DEFAULT_TRANSFER_FAILED);
    emit_say (self, DEFAULT_TRANSFER_FAILED_BYE);
    emit_action (self, "hangup", NULL, "transfer-failed");
  } else if (list) {
    run_actions (self, list, "transfer-failed");
  } else if (self->transfer_return && !self->transfer_from_fallback) {
    emit_say (self, DEFAULT_TRANSFER_FAILED);
    enter_state (self, self->transfer_return, "transfer-failed");
  } else {
    emit_say (self, DEFAULT_TRANSFER_FAILED);
    emit_say (self, DEFAULT_TRANSFER_FAILED_BYE);
    emit_action (self, "hangup", NULL, "transfer-failed");
  }
  return g_strdup ("transfer-failed");
}

static void
emit_done (GstAgentScriptBackend *self, const gchar *state, const gchar *heard,
    const gchar *matched, gboolean partial)
{
  GstAgentOutput out = {0};

  out.type = GST_AGENT_OUTPUT_DONE;
  out.turn = self->turn;
  out.state = state;
  out.heard = heard;
  out.matched = matched;
  out.partial = partial;
  out.no_input_timeout_ms = self->ended ? 0 : state_timeout (self, self->state);
  gst_agent_backend_emit (&self->parent, &out);
}

/* ------------------------------------------------------------------------ */
/* The backend vtable                                                        */
/* ------------------------------------------------------------------------ */

static const gchar default_script[] =
    "# The built-in script of the agent element: a general receptionist.\n"
    "[script]\n"
    "start = greeting\n"
    "\n"
    "[global]\n"
    "intent.repeat = repeat that, say that again, come again\n"
    "on.repeat = repeat\n"
    "\n"
    "[state greeting]\n"
    "say = Hello, thank you for calling. How can I help you today?\n"
    "slot = text\n"
    "field = reason\n"
    "filled = goto name\n"
    "\n"
    "[state name]\n"
    "say = I can help with that. May I have your name, please?\n"
    "reprompt = Please tell me your name. You can also spell it.\n"
    "slot = name\n"
    "field = caller_name\n"
    "filled = goto phone\n"
    "\n"
    "[state phone]\n"
    "say = Thank you, {caller_name}. What is the best number to reach you? "
    "You can also key it in, followed by the pound key.\n"
    "reprompt = Please say or key in your phone number, digit by digit.\n"
    "slot = phone\n"
    "filled = goto confirm_phone\n"
    "\n"
    "[state confirm_phone]\n"
    "say = I have {phone:digits}. Is that right?\n"
    "reprompt = Is {phone:digits} the right number? Please say yes or no.\n"
    "slot = yesno\n"
    "yes = goto offer_message\n"
    "no = say Let's try that again.; goto phone\n"
    "\n"
    "[state offer_message]\n"
    "say = Would you like to leave a message?\n"
    "slot = yesno\n"
    "yes = goto message\n"
    "no = goto goodbye\n"
    "\n"
    "[state message]\n"
    "say = Please go ahead with your message.\n"
    "timeout = 10\n"
    "slot = text\n"
    "filled = say Thank you, I have your message.; goto goodbye\n"
    "\n"
    "[state goodbye]\n"
    "say = Someone will call you back at {phone:digits|your number} soon. "
    "Thank you for calling. Goodbye.\n"
    "next = hangup\n";

const gchar *
gst_agent_script_get_default (void)
{
  return default_script;
}

static GstAgentBackend *
script_create (const GstAgentBackendConfig *config, GError **error)
{
  GstAgentScriptBackend *self;
  gchar *text = NULL;
  const gchar *name = BUILTIN_NAME;
  Script *sc;
  GError *err = NULL;

  if (config->script) {
    if (!g_file_get_contents (config->script, &text, NULL, &err)) {
      g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_FOUND,
          "%s: cannot read the script: %s", config->script, err->message);
      g_error_free (err);
      return NULL;
    }
    name = config->script;
    if (!g_utf8_validate (text, -1, NULL)) {
      g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS,
          "%s:1: the script is not valid UTF-8", name);
      g_free (text);
      return NULL;
    }
  }
  sc = script_parse (name, text ? text : default_script, config, error);
  g_free (text);
  if (sc == NULL)
    return NULL;
  self = g_new0 (GstAgentScriptBackend, 1);
  gst_agent_backend_init (
      &self->parent, &gst_agent_script_backend_class, config);
  self->script = sc;
  self->outbound = config->outbound;
  self->dtmf = g_string_new (NULL);
  self->fields =
      g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_date_clear (&self->today, 1);
  GST_INFO_OBJECT (config->element, "loaded %s: %u states, start %s", name,
      sc->order->len, sc->start->name);
  return &self->parent;
}

static void
script_start (GstAgentBackend *backend, guint turn, const gchar *call_id)
{
  GstAgentScriptBackend *self = (GstAgentScriptBackend *) backend;
  GDateTime *now = g_date_time_new_now_local ();
  State *first;

  self->turn = turn;
  self->ended = FALSE;
  self->transitions = 0;
  self->retries = 0;
  self->input_state = NULL;
  self->transfer_state = self->transfer_return = NULL;
  self->transfer_from_fallback = FALSE;
  self->transfer_failures = 0;
  g_string_truncate (self->dtmf, 0);
  g_hash_table_remove_all (self->fields);
  g_clear_pointer (&self->heard, g_free);
  g_free (self->call_id);
  self->call_id = g_strdup (call_id);
  /* dates are read relative to the day the call started */
  g_date_set_dmy (&self->today, (GDateDay) g_date_time_get_day_of_month (now),
      (GDateMonth) g_date_time_get_month (now),
      (GDateYear) g_date_time_get_year (now));
  g_date_time_unref (now);
  first = self->outbound && self->script->outbound_start
      ? self->script->outbound_start
      : self->script->start;
  enter_state (self, first, "start");
  emit_done (self, first->name, NULL, NULL, FALSE);
}

static void
script_input (GstAgentBackend *backend, guint turn, const GstAgentInput *input)
{
  GstAgentScriptBackend *self = (GstAgentScriptBackend *) backend;
  gchar *state, *heard = NULL, *matched = NULL;

  if (input->type == GST_AGENT_INPUT_TRANSFER_FAILED) {
    /* the conversation had ended with that transfer; script_stop() (a new
     * call, the element stopping) clears the state and nothing resumes */
    if (self->state == NULL || self->transfer_state == NULL)
      return;
  } else if (self->state == NULL || self->ended) {
    return;
  } else {
    self->input_state = self->state;
    self->transfer_failures = 0;
  }
  self->turn = turn;
  self->transitions = 0;
  state = g_strdup (self->state->name);
  switch (input->type) {
    case GST_AGENT_INPUT_UTTERANCE:
      matched = handle_utterance (self, input->text);
      heard = g_strdup (input->text);
      break;
    case GST_AGENT_INPUT_DTMF:
      matched = handle_dtmf (self, input->digit, &heard);
      break;
    case GST_AGENT_INPUT_NO_INPUT:
      matched = handle_no_input (self, &heard);
      break;
    case GST_AGENT_INPUT_TRANSFER_FAILED:
      matched = handle_transfer_failed (self, input, &heard);
      break;
    case GST_AGENT_INPUT_RESUMED:
      matched = handle_resumed (self);
      break;
  }
  emit_done (
      self, state, heard, matched ? matched : "dtmf-digit", matched == NULL);
  g_free (state);
  g_free (heard);
  g_free (matched);
}

static void
script_cancel (GstAgentBackend *backend, guint turn)
{
  /* replies are emitted synchronously from input(): by the time the caller
   * barges in there is nothing left to stop here */
}

static void
script_stop (GstAgentBackend *backend)
{
  GstAgentScriptBackend *self = (GstAgentScriptBackend *) backend;

  self->state = NULL;
  self->ended = TRUE;
}

static void
script_free_backend (GstAgentBackend *backend)
{
  GstAgentScriptBackend *self = (GstAgentScriptBackend *) backend;

  script_free (self->script);
  g_string_free (self->dtmf, TRUE);
  g_hash_table_unref (self->fields);
  g_free (self->call_id);
  g_free (self->heard);
  g_free (self);
}

static GstAgentBackend *
script_create_once (const GstAgentBackendConfig *config, GError **error)
{
  static gsize once = 0;

  if (g_once_init_enter (&once)) {
    GST_DEBUG_CATEGORY_INIT (
        agent_script_debug, "agentscript", 0, "agent script backend");
    g_once_init_leave (&once, 1);
  }
  return script_create (config, error);
}

const GstAgentBackendClass gst_agent_script_backend_class = {
    "script",
    "declarative dialog flow from a keyfile (docs/scripts.md)",
    script_create_once,
    script_start,
    script_input,
    script_cancel,
    script_stop,
    script_free_backend,
};
