/* peer_misp.h — the MISP connector: pulls published events changed since a timestamp cursor
 * (/events/index, then /events/view per event), then the sightings recorded since
 * (/sightings/restSearch, handed over as {"Sighting": {...}}); pushes events (/events/add, else
 * /events/edit/{uuid}) and sightings alone, over the REST API with the peer's API key. */
#ifndef SL_PEER_MISP_H
#define SL_PEER_MISP_H

#include "peer.h"

/* Events listed per /events/index page. */
#define SL_PEER_MISP_PAGE 100

/* The MISP ops table (static, never freed). */
const struct sl_peer_ops *sl_peer_misp_ops(void);

#endif
