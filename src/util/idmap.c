/* Id → pointer hash map: see idmap.h. */
#include "util/idmap.h"

#include "util/error.h"
#include "util/hash.h"

#include <stdlib.h>

#define IDMAP_MIN_CAPACITY 16

static size_t idmap_hash(uint64_t key)
{
    return (size_t)hash_u64(key);
}

void idmap_init(struct idmap *m)
{
    m->slots = NULL;
    m->mask = 0;
    m->count = 0;
}

void idmap_free(struct idmap *m)
{
    free(m->slots);
    idmap_init(m);
}

void *idmap_get(const struct idmap *m, uint64_t key)
{
    if (!m->slots) return NULL;
    for (size_t i = idmap_hash(key) & m->mask;; i = (i + 1) & m->mask) {
        if (m->slots[i].key == key) return m->slots[i].value;
        if (m->slots[i].key == 0) return NULL;
    }
}

static void idmap_insert_slot(struct idmap_slot *slots, size_t mask, uint64_t key, void *value)
{
    size_t i = idmap_hash(key) & mask;
    while (slots[i].key != 0 && slots[i].key != key) i = (i + 1) & mask;
    slots[i].key = key;
    slots[i].value = value;
}

static int idmap_grow(struct idmap *m)
{
    size_t capacity = m->slots ? (m->mask + 1) * 2 : IDMAP_MIN_CAPACITY;
    struct idmap_slot *slots = calloc(capacity, sizeof *slots);
    if (!slots) return CHAT_E_NOMEM;
    if (m->slots) {
        for (size_t i = 0; i <= m->mask; i++)
            if (m->slots[i].key)
                idmap_insert_slot(slots, capacity - 1, m->slots[i].key, m->slots[i].value);
        free(m->slots);
    }
    m->slots = slots;
    m->mask = capacity - 1;
    return 0;
}

int idmap_put(struct idmap *m, uint64_t key, void *value)
{
    /* keep the load factor under 3/4 */
    if (!m->slots || (m->count + 1) * 4 > (m->mask + 1) * 3) {
        int err = idmap_grow(m);
        if (err) return err;
    }
    size_t i = idmap_hash(key) & m->mask;
    while (m->slots[i].key != 0 && m->slots[i].key != key) i = (i + 1) & m->mask;
    if (m->slots[i].key == 0) m->count++;
    m->slots[i].key = key;
    m->slots[i].value = value;
    return 0;
}

void *idmap_remove(struct idmap *m, uint64_t key)
{
    if (!m->slots) return NULL;
    size_t i = idmap_hash(key) & m->mask;
    while (m->slots[i].key != key) {
        if (m->slots[i].key == 0) return NULL;
        i = (i + 1) & m->mask;
    }
    void *value = m->slots[i].value;
    m->count--;
    /* Backward-shift: move later entries of the probe run into the hole. */
    size_t hole = i;
    for (size_t j = (i + 1) & m->mask; m->slots[j].key != 0; j = (j + 1) & m->mask) {
        size_t home = idmap_hash(m->slots[j].key) & m->mask;
        /* the entry at j may move to hole when its home is not in (hole, j] */
        if (((j - home) & m->mask) >= ((j - hole) & m->mask)) {
            m->slots[hole] = m->slots[j];
            hole = j;
        }
    }
    m->slots[hole].key = 0;
    m->slots[hole].value = NULL;
    return value;
}
