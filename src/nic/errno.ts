// errno in NIC messages: symbolic code and libc's text, e.g. "EBUSY (Device or resource busy)".
import { errnoName, strerror } from '../sys/libc.js';

export const errnoText = (e: number): string => `${errnoName(e)} (${strerror(e)})`;
