/** The full-screen UI's port to the client core: the one both views share (lib/ui/core.ts). */
export type { ChatCore, OnlineEntry } from '../core';
