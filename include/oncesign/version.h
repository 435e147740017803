/* The release of the host programs (oncesignd, oncesign, oncesign-sim, oncesign-testnode), printed
 * by each one's --version, and of the firmware built from the same tree (DEVICE_INFO). */
#ifndef ONCESIGN_VERSION_H
#define ONCESIGN_VERSION_H

#define ONCESIGN_VERSION "0.1.0"

#endif /* ONCESIGN_VERSION_H */
