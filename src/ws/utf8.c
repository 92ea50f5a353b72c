/* A hand-written UTF-8 DFA (after Hoehrmann's design: byte classes, then one table lookup per
 * byte) that rejects overlong forms, surrogates and code points above U+10FFFF. */
#include "ws/utf8.h"

/* RFC 3629 §4, the grammar this automaton implements:
 *   UTF8-1      = %x00-7F
 *   UTF8-2      = %xC2-DF UTF8-tail
 *   UTF8-3      = %xE0 %xA0-BF UTF8-tail / %xE1-EC 2( UTF8-tail ) /
 *                 %xED %x80-9F UTF8-tail / %xEE-EF 2( UTF8-tail )
 *   UTF8-4      = %xF0 %x90-BF 2( UTF8-tail ) / %xF1-F3 3( UTF8-tail ) /
 *                 %xF4 %x80-8F 2( UTF8-tail )
 *   UTF8-tail   = %x80-BF
 * The restricted second bytes are what exclude overlongs (after E0 and F0), surrogates
 * U+D800..DFFF (after ED) and code points above U+10FFFF (after F4). */

/* Byte classes: bytes that the grammar never tells apart share a class. */
enum byte_class {
    C_ASCII,    /* 00..7F */
    C_TAIL_LO,  /* 80..8F */
    C_TAIL_MID, /* 90..9F */
    C_TAIL_HI,  /* A0..BF */
    C_LEAD2,    /* C2..DF */
    C_E0,       /* E0 */
    C_LEAD3,    /* E1..EC, EE..EF */
    C_ED,       /* ED */
    C_F0,       /* F0 */
    C_LEAD4,    /* F1..F3 */
    C_F4,       /* F4 */
    C_BAD,      /* C0, C1 (always overlong), F5..FF (beyond U+10FFFF or not UTF-8 at all) */
    C_COUNT
};

/* States: what the automaton still expects. ACCEPT is 0 so that a zeroed validator is a fresh
 * one; REJECT is a sink. */
enum state {
    ACCEPT,   /* at a character boundary */
    REJECT,   /* invalid input seen */
    TAIL1,    /* one more UTF8-tail */
    TAIL2,    /* two more */
    TAIL3,    /* three more */
    AFTER_E0, /* %xA0-BF, then one tail */
    AFTER_ED, /* %x80-9F, then one tail */
    AFTER_F0, /* %x90-BF, then two tails */
    AFTER_F4, /* %x80-8F, then two tails */
    STATE_COUNT
};

/* The table in short: OK = ACCEPT, NO = REJECT, Tn = TAILn, xx = AFTER_xx. */
#define OK ACCEPT
#define NO REJECT
#define T1 TAIL1
#define T2 TAIL2
#define T3 TAIL3
#define E0 AFTER_E0
#define ED AFTER_ED
#define F0 AFTER_F0
#define F4 AFTER_F4
// clang-format off
static const uint8_t transitions[STATE_COUNT][C_COUNT] = {
    /*             ASCII 80-8F 90-9F A0-BF C2-DF E0  E1-EF ED  F0  F1-F3 F4  bad */
    [ACCEPT]   = { OK,   NO,   NO,   NO,   T1,   E0, T2,   ED, F0, T3,   F4, NO },
    [REJECT]   = { NO,   NO,   NO,   NO,   NO,   NO, NO,   NO, NO, NO,   NO, NO },
    [TAIL1]    = { NO,   OK,   OK,   OK,   NO,   NO, NO,   NO, NO, NO,   NO, NO },
    [TAIL2]    = { NO,   T1,   T1,   T1,   NO,   NO, NO,   NO, NO, NO,   NO, NO },
    [TAIL3]    = { NO,   T2,   T2,   T2,   NO,   NO, NO,   NO, NO, NO,   NO, NO },
    [AFTER_E0] = { NO,   NO,   NO,   T1,   NO,   NO, NO,   NO, NO, NO,   NO, NO },
    [AFTER_ED] = { NO,   T1,   T1,   NO,   NO,   NO, NO,   NO, NO, NO,   NO, NO },
    [AFTER_F0] = { NO,   NO,   T2,   T2,   NO,   NO, NO,   NO, NO, NO,   NO, NO },
    [AFTER_F4] = { NO,   T2,   NO,   NO,   NO,   NO, NO,   NO, NO, NO,   NO, NO },
};
// clang-format on
#undef OK
#undef NO
#undef T1
#undef T2
#undef T3
#undef E0
#undef ED
#undef F0
#undef F4

static enum byte_class byte_class(uint8_t b)
{
    if (b < 0x80) return C_ASCII;
    if (b < 0x90) return C_TAIL_LO;
    if (b < 0xA0) return C_TAIL_MID;
    if (b < 0xC0) return C_TAIL_HI;
    if (b < 0xC2) return C_BAD;
    if (b < 0xE0) return C_LEAD2;
    if (b == 0xE0) return C_E0;
    if (b == 0xED) return C_ED;
    if (b < 0xF0) return C_LEAD3;
    if (b == 0xF0) return C_F0;
    if (b < 0xF4) return C_LEAD4;
    if (b == 0xF4) return C_F4;
    return C_BAD;
}

void ws_utf8_init(ws_utf8 *v)
{
    v->state = ACCEPT;
}

bool ws_utf8_feed(ws_utf8 *v, const uint8_t *p, size_t n)
{
    uint32_t state = v->state;
    for (size_t i = 0; i < n && state != REJECT; i++) {
        /* Chat text is mostly ASCII: skip the table while at a boundary. */
        if (state == ACCEPT && p[i] < 0x80) continue;
        state = transitions[state][byte_class(p[i])];
    }
    v->state = state;
    return state != REJECT;
}

bool ws_utf8_complete(const ws_utf8 *v)
{
    return v->state == ACCEPT;
}

bool ws_utf8_valid(const uint8_t *p, size_t n)
{
    ws_utf8 v;
    ws_utf8_init(&v);
    return ws_utf8_feed(&v, p, n) && ws_utf8_complete(&v);
}

size_t ws_utf8_codepoints(const uint8_t *p, size_t n)
{
    /* Every code point has exactly one byte that is not a UTF8-tail (10xxxxxx). */
    size_t count = 0;
    for (size_t i = 0; i < n; i++) count += (p[i] & 0xC0) != 0x80;
    return count;
}
